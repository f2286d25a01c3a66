"""Job workers: claim, run the handler for the job's kind, complete or fail. Threads in one process."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import metrics
from bot.jobs import JobQueue, PermanentJobError, is_deferral
from bot.models import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobKind:
    run: Callable[[Job], None]
    on_dead: Callable[[Job, str], None] | None = None  # e.g. mark the case room failed


class Worker:
    def __init__(self, queue: JobQueue, kinds: dict[str, JobKind], name: str | None = None) -> None:
        self.queue = queue
        self.kinds = kinds
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self._next: Job | None = None  # claimed as the last job was completed: run before claiming again

    def run_once(self, claim_next: bool = True) -> bool:
        """Run one job (claiming it unless the last completion already did); False when nothing was due.

        With ``claim_next`` the completion claims the following job in its transaction; a worker about to stop
        passes False so it leaves holding nothing.
        """
        job, self._next = self._next or self.queue.claim(self.name), None
        if job is None:
            return False
        kind = self.kinds.get(job.kind)
        started = time.perf_counter()
        beat = _Heartbeat(self.queue, job, self.name)
        try:
            if kind is None:
                raise PermanentJobError(f"no handler for job kind {job.kind!r}")
            with beat:
                kind.run(job)
        except Exception as exc:
            dead = self.queue.fail(job, self.name, exc)
            outcome = "dead" if dead else "deferred" if is_deferral(exc) else "retry"
            metrics.JOBS.labels(kind=job.kind, outcome=outcome).inc()
            if is_deferral(exc):
                log.debug("job %s (%s) deferred: %s", job.id, job.kind, exc)
            elif dead:
                log.error(
                    "job %s (%s) dead-lettered after %d attempts: %s", job.id, job.kind, job.attempts, exc, exc_info=exc
                )
                if kind and kind.on_dead:
                    kind.on_dead(job, f"{type(exc).__name__}: {exc}")
            else:
                log.warning("job %s (%s) attempt %d failed, will retry: %s", job.id, job.kind, job.attempts, exc)
        else:
            self._next = self.queue.complete(job, self.name, claim_next=claim_next)
            metrics.JOBS.labels(kind=job.kind, outcome="done").inc()
        finally:
            metrics.JOB_SECONDS.labels(kind=job.kind).observe(time.perf_counter() - started)
        return True

    def run(self, stop: threading.Event, poll: float = 0.5) -> None:
        while not stop.is_set() or self._next is not None:  # a job claimed is run, even when stopping
            try:
                if self.run_once(claim_next=not stop.is_set()):
                    continue
            except Exception:
                log.exception("worker %s: claiming failed", self.name)
            self.queue.wakeup.wait(poll)
            self.queue.wakeup.clear()

    def drain(self, timeout: float = 30.0) -> int:
        """Run due jobs until none is left (tests, `caseroom jobs run`). Returns how many ran."""
        deadline = time.monotonic() + timeout
        ran = 0
        while time.monotonic() < deadline and self.run_once():
            ran += 1
        while self._next is not None:  # claimed by the last completion: run it rather than leave it to its lease
            self.run_once(claim_next=False)
            ran += 1
        return ran


class _Heartbeat:
    """Extends the job's lease while it runs, so a long export is not taken over by another worker."""

    def __init__(self, queue: JobQueue, job: Job, worker: str) -> None:
        self.queue, self.job, self.worker = queue, job, worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        interval = max(1.0, self.queue.lease.total_seconds() / 3)
        while not self._stop.wait(interval):
            try:
                self.queue.heartbeat(self.job, self.worker)
            except Exception:
                log.warning("heartbeat for job %s failed", self.job.id, exc_info=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


class WorkerPool:
    def __init__(self, queue: JobQueue, kinds: dict[str, JobKind], size: int) -> None:
        self.queue, self.kinds, self.size = queue, kinds, size
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.size):
            worker = Worker(self.queue, self.kinds, name=f"{socket.gethostname()}:{os.getpid()}:w{i}")
            t = threading.Thread(target=worker.run, args=(self._stop,), name=f"worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.queue.wakeup.set()
        for t in self._threads:
            t.join(timeout)
