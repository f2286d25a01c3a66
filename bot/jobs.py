"""The durable job queue: enqueue once, claim once, retry with backoff, dead-letter, replay.

* Enqueue happens inside the caller's transaction (the webhook delivery and its job commit together).
* Claims are compare-and-set updates (``FOR UPDATE SKIP LOCKED`` on PostgreSQL so replicas never wait on
  each other's candidates). A claim also takes the job's *lane* lease, so two jobs of one case never run at
  the same time, on any replica.
* A worker that dies leaves a lease that runs out; the job is then claimed again (the claim counts as an
  attempt, so a job that kills its worker every time still ends in the dead letter).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlmodel import Session, col

from bot.db import Database
from bot.models import Job, JobStatus, LaneLease, utcnow
from bot.sqlutil import insert_ignore, insert_many_ignore

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class PermanentJobError(Exception):
    """Retrying cannot help: the job goes straight to the dead letter."""


class WaitingFor(Exception):
    """Not yet: the job waits for other work (closure for the uploads' jobs); rescheduled, no attempt counted."""

    deferred = True

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def is_permanent(exc: BaseException) -> bool:
    # Adapters mark refusals with their own Permanent* classes (and subclasses of them); the core
    # recognises them by name so it needs no import of any adapter.
    return any(cls.__name__.startswith("Permanent") for cls in type(exc).__mro__)


def is_deferral(exc: BaseException) -> bool:
    """An adapter's own pacing said "not yet" (``deferred = True`` on the error): reschedule, count nothing."""
    return bool(getattr(exc, "deferred", False))


@dataclass(frozen=True)
class Backoff:
    base: float = 2.0
    cap: float = 900.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Exponential with jitter, never sooner than the platform's ``Retry-After``."""
        raw = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        jittered = raw * rng.uniform(0.5, 1.0)
        return max(jittered, retry_after or 0.0)


class JobQueue:
    def __init__(
        self,
        db: Database,
        *,
        max_attempts: int = 8,
        lease_seconds: float = 120.0,
        backoff: Backoff | None = None,
        clock: Clock = utcnow,
        seed: int | None = None,
    ) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.lease = timedelta(seconds=lease_seconds)
        self.backoff = backoff or Backoff()
        self.clock = clock
        self._rng = random.Random(seed)
        self.wakeup = threading.Event()  # set on local enqueue so idle workers start at once

    # -- producing ---------------------------------------------------------------------------------
    def enqueue(
        self,
        session: Session,
        kind: str,
        payload: dict[str, Any],
        *,
        key: str | None = None,
        lane: str | None = None,
        delay: float = 0.0,
    ) -> int | None:
        """Add a job in the caller's transaction. Returns its id, or ``None`` if ``key`` was enqueued before."""
        now = self.clock()
        job_id = insert_ignore(session, Job, self._row(kind, payload, key, lane, now, now + timedelta(seconds=delay)))
        self.wakeup.set()
        return int(job_id) if job_id is not None else None

    def enqueue_many(self, session: Session, jobs: list[tuple[str, dict[str, Any], str, str | None]]) -> None:
        """Add (kind, payload, key, lane) jobs in the caller's transaction, in one statement; known keys are skipped."""
        now = self.clock()
        insert_many_ignore(session, Job, [self._row(*job, now, now) for job in jobs])
        self.wakeup.set()

    def _row(self, kind: str, payload: dict[str, Any], key: str | None, lane: str | None, now: datetime,
             run_at: datetime) -> dict[str, Any]:  # fmt: skip
        return {"kind": kind, "key": key, "lane": lane, "payload": payload, "status": JobStatus.QUEUED,
                "attempts": 0, "max_attempts": self.max_attempts, "run_at": run_at, "created_at": now}  # fmt: skip

    def submit(self, kind: str, payload: dict[str, Any], **kw: Any) -> int | None:
        """Enqueue in a transaction of its own."""
        with self.db.session() as s:
            job_id = self.enqueue(s, kind, payload, **kw)
            s.commit()
            return job_id

    # -- consuming ---------------------------------------------------------------------------------
    def claim(self, worker_id: str) -> Job | None:
        now = self.clock()
        with self.db.session() as s:
            due = or_(
                and_(Job.status == JobStatus.QUEUED, Job.run_at <= now),  # type: ignore[arg-type]
                and_(Job.status == JobStatus.RUNNING, Job.locked_until < now),  # type: ignore[arg-type,operator]
            )
            q = select(Job).where(due).order_by(Job.run_at, Job.id).limit(16)  # type: ignore[arg-type]
            if self.db.is_postgres:
                q = q.with_for_update(skip_locked=True)
            for job in s.execute(q).scalars().all():
                if job.lane and not self._take_lane(s, job.lane, worker_id, now):
                    continue
                taken = s.execute(
                    update(Job)
                    .where(col(Job.id) == job.id, col(Job.status) == job.status, col(Job.attempts) == job.attempts)
                    .values(
                        status=JobStatus.RUNNING,
                        attempts=job.attempts + 1,
                        locked_by=worker_id,
                        locked_until=now + self.lease,
                    )
                ).rowcount  # type: ignore[attr-defined]
                if taken:
                    s.commit()
                    s.refresh(job)
                    return job
            s.rollback()
        return None

    def _take_lane(self, s: Session, lane: str, worker_id: str, now: datetime) -> bool:
        until = now + self.lease
        got = s.execute(
            update(LaneLease)
            .where(LaneLease.lane == lane, or_(LaneLease.until < now, LaneLease.holder == worker_id))  # type: ignore[arg-type]
            .values(holder=worker_id, until=until)
        ).rowcount  # type: ignore[attr-defined]
        if got:
            return True
        return insert_ignore(s, LaneLease, {"lane": lane, "holder": worker_id, "until": until}) is not None

    def heartbeat(self, job: Job, worker_id: str) -> None:
        until = self.clock() + self.lease
        with self.db.session() as s:
            s.execute(
                update(Job).where(Job.id == job.id, Job.locked_by == worker_id).values(locked_until=until)  # type: ignore[arg-type]
            )
            if job.lane:
                s.execute(
                    update(LaneLease)
                    .where(LaneLease.lane == job.lane, LaneLease.holder == worker_id)  # type: ignore[arg-type]
                    .values(until=until)
                )
            s.commit()

    def complete(self, job: Job, worker_id: str) -> None:
        now = self.clock()
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job.id, Job.locked_by == worker_id)  # type: ignore[arg-type]
                .values(status=JobStatus.DONE, finished_at=now, locked_until=None, last_error=None)
            )
            self._release_lane(s, job, worker_id, now)
            s.commit()

    def fail(self, job: Job, worker_id: str, exc: BaseException) -> bool:
        """Record a failure; schedule a retry or dead-letter. Returns True when dead-lettered."""
        now = self.clock()
        error = f"{type(exc).__name__}: {exc}"[:4000]
        retry_after = getattr(exc, "retry_after", None)
        if is_deferral(exc):
            # Held back by our own pacing before anything was sent: not an attempt, and no backoff beyond it.
            dead = False
            delay = float(retry_after or 1.0)
            values: dict[str, Any] = {"attempts": max(job.attempts - 1, 0), "locked_until": None}
        else:
            dead = is_permanent(exc) or job.attempts >= job.max_attempts
            delay = self.backoff.delay(job.attempts, retry_after, self._rng)
            values = {"last_error": error, "locked_until": None}
        if dead:
            values |= {"status": JobStatus.DEAD, "finished_at": now}
        else:
            values |= {"status": JobStatus.QUEUED, "run_at": now + timedelta(seconds=delay)}
        with self.db.session() as s:
            s.execute(update(Job).where(Job.id == job.id, Job.locked_by == worker_id).values(**values))  # type: ignore[arg-type]
            self._release_lane(s, job, worker_id, now)
            s.commit()
        return dead

    def _release_lane(self, s: Session, job: Job, worker_id: str, now: datetime) -> None:
        if job.lane:
            s.execute(
                update(LaneLease)
                .where(LaneLease.lane == job.lane, LaneLease.holder == worker_id)  # type: ignore[arg-type]
                .values(until=now - timedelta(microseconds=1))
            )

    # -- operating ---------------------------------------------------------------------------------
    def retry(self, job_id: int) -> Job:
        """Replay a dead-lettered (or failed-and-waiting) job now, with a fresh attempt budget."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise LookupError(f"no job {job_id}")
            if job.status not in (JobStatus.DEAD, JobStatus.QUEUED):
                raise ValueError(f"job {job_id} is {job.status}; only dead or waiting jobs can be retried")
            job.status = JobStatus.QUEUED
            job.attempts = 0
            job.run_at = self.clock()
            job.finished_at = None
            s.add(job)
            s.commit()
            s.refresh(job)
        self.wakeup.set()
        return job

    def list(self, status: str | None = None, limit: int = 100) -> list[Job]:
        with self.db.session() as s:
            q = select(Job).order_by(Job.id.desc()).limit(limit)  # type: ignore[union-attr]
            if status:
                q = q.where(Job.status == status)  # type: ignore[arg-type]
            return list(s.execute(q).scalars().all())

    def counts(self) -> dict[str, int]:
        with self.db.session() as s:
            rows = s.execute(select(col(Job.status), func.count()).group_by(col(Job.status))).all()
        return {str(status): int(n) for status, n in rows}

    def pending(self) -> int:
        c = self.counts()
        return c.get(JobStatus.QUEUED, 0) + c.get(JobStatus.RUNNING, 0)
