"""Persist an inbound delivery and its jobs before the ack, so an ack always means "stored".

Deliveries are written by one writer thread per process that commits whatever has queued up meanwhile in
one transaction (group commit): under load one commit (one fsync) covers many acks, and the web server's
event loop never waits on the database. A lone delivery is written at once, so there is no added delay.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from bot.db import Database
from bot.jobs import JobQueue
from bot.models import Delivery
from bot.sqlutil import insert_many_ignore

log = logging.getLogger(__name__)

BATCH_MAX = 256  # deliveries per transaction: bounds the transaction, not the wait


@dataclass(frozen=True)
class JobSpec:
    kind: str
    payload: dict[str, Any]
    lane: str | None = None


@dataclass(eq=False)  # identity: two deliveries with equal fields are still two deliveries
class _Pending:
    source: str
    delivery_id: str
    raw: str
    jobs: list[JobSpec]
    done: Future[bool] = field(default_factory=Future)
    # For a request handler: its loop and asyncio future, settled in one loop callback per batch (a wake-up
    # per delivery would cost the event loop as much as the delivery itself).
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[bool] | None = None

    def settle(self, outcome: bool | BaseException) -> None:
        if isinstance(outcome, BaseException):
            self.done.set_exception(outcome)
        else:
            self.done.set_result(outcome)


def _settle_waiters(items: list[_Pending]) -> None:
    """In the event loop: hand each waiting request handler its outcome (unless it gave up meanwhile)."""
    for item in items:
        if item.waiter is not None and not item.waiter.done():
            exc = item.done.exception()
            if exc is not None:
                item.waiter.set_exception(exc)
            else:
                item.waiter.set_result(item.done.result())


def _order(item: _Pending) -> tuple[str, str]:
    return item.source, item.delivery_id


class Ingest:
    def __init__(self, db: Database, queue_: JobQueue) -> None:
        self.db = db
        self.queue = queue_
        self._inbox: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._start = threading.Lock()

    def accept(self, source: str, delivery_id: str, raw: str, jobs: list[JobSpec]) -> bool:
        """Store the delivery and enqueue its jobs; ``False`` when this delivery was seen before.

        Duplicates (platform retries, concurrent deliveries to several replicas) meet the unique key on
        (source, delivery_id) and change nothing. Raises what the database raised when it could not store.
        """
        return self.submit(source, delivery_id, raw, jobs).result()

    async def accept_async(self, source: str, delivery_id: str, raw: str, jobs: list[JobSpec]) -> bool:
        """:meth:`accept` for request handlers: the event loop serves other requests while this one is stored."""
        loop = asyncio.get_running_loop()
        item = _Pending(source, delivery_id[:255], raw, jobs, loop=loop, waiter=loop.create_future())
        self._put(item)
        assert item.waiter is not None
        return await item.waiter

    def submit(self, source: str, delivery_id: str, raw: str, jobs: list[JobSpec]) -> Future[bool]:
        """Queue a delivery for the writer; the future says whether it was new, once committed."""
        item = _Pending(source, delivery_id[:255], raw, jobs)
        self._put(item)
        return item.done

    def _put(self, item: _Pending) -> None:
        self._ensure_writer()
        self._inbox.put(item)

    def _ensure_writer(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return
        with self._start:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._run, name="caseroom-ingest", daemon=True)
                self._writer.start()

    def _run(self) -> None:
        while True:
            batch = [self._inbox.get()]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            with self.db.session() as s:
                new = self._store(s, batch)
                s.commit()
        except Exception as exc:  # noqa: BLE001 (handed to the waiting caller, who answers 5xx)
            if len(batch) > 1:  # one bad delivery must not fail the others: write them one by one
                for item in batch:
                    self._write([item])
                return
            log.warning("could not store %s delivery %s: %s", batch[0].source, batch[0].delivery_id, exc)
            self._finish(batch, {id(batch[0]): exc})
            return
        self.queue.wakeup.set()  # the jobs are visible now
        stored = {id(item) for item in new}
        self._finish(batch, {id(item): id(item) in stored for item in batch})

    @staticmethod
    def _finish(batch: list[_Pending], outcomes: dict[int, bool | BaseException]) -> None:
        waiting: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        for item in batch:
            item.settle(outcomes[id(item)])
            if item.loop is not None:
                waiting.setdefault(item.loop, []).append(item)
        for loop, items in waiting.items():
            with suppress(RuntimeError):  # that loop has closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle_waiters, items)

    def _store(self, s: Any, batch: list[_Pending]) -> list[_Pending]:
        """Insert the batch's deliveries and the jobs of those not seen before; returns those new ones."""
        first: dict[tuple[str, str], _Pending] = {}
        for item in sorted(batch, key=_order):  # key order: replicas' batches lock rows in the same order
            first.setdefault(_order(item), item)  # a repeat within the batch is a duplicate like any other
        rows = [{"source": i.source, "delivery_id": i.delivery_id, "payload": i.raw} for i in first.values()]
        inserted = {(src, did) for src, did in insert_many_ignore(s, Delivery, rows, ("source", "delivery_id"))}
        new = [item for key, item in first.items() if key in inserted]
        jobs = [(job.kind, job.payload, f"{item.source}:{item.delivery_id}:{i}"[:255], job.lane)
                for item in new for i, job in enumerate(item.jobs)]  # fmt: skip
        self.queue.enqueue_many(s, jobs)
        return new
