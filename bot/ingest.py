"""Persist an inbound delivery and its jobs in one transaction, so an ack always means "stored"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.db import Database
from bot.jobs import JobQueue
from bot.models import Delivery
from bot.sqlutil import insert_ignore


@dataclass(frozen=True)
class JobSpec:
    kind: str
    payload: dict[str, Any]
    lane: str | None = None


class Ingest:
    def __init__(self, db: Database, queue: JobQueue) -> None:
        self.db = db
        self.queue = queue

    def accept(self, source: str, delivery_id: str, raw: str, jobs: list[JobSpec]) -> bool:
        """Store the delivery and enqueue its jobs; ``False`` when this delivery was seen before.

        Duplicates (platform retries, concurrent deliveries to several replicas) meet the unique key on
        (source, delivery_id) and change nothing.
        """
        with self.db.session() as s:
            stored = insert_ignore(s, Delivery, {"source": source, "delivery_id": delivery_id[:255], "payload": raw})
            if stored is None:
                s.rollback()
                return False
            for i, job in enumerate(jobs):
                self.queue.enqueue(s, job.kind, job.payload, key=f"{source}:{delivery_id}:{i}"[:255], lane=job.lane)
            s.commit()
        return True
