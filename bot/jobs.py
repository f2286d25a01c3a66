"""The durable job queue: enqueue once, claim once, retry with backoff, dead-letter, replay.

* Enqueue happens inside the caller's transaction (the webhook delivery and its job commit together).
* Every job runs in a *lane* (a case, a room; a job that names none gets one of its own). Jobs of one lane run one
  at a time, in (run_at, id) order, on any replica: the claim takes the lane's lease with the job.
* The claim orders lanes, not jobs: ``lane_leases.head_at`` says when each lane's first live job is due, so a lane
  with a backlog of thousands behind a running job is one row to pass over, not thousands (head-of-line blocking).
  Picking a lane and taking its lease is one statement, and the job is taken in the same transaction: no lease is
  ever left without its job. On PostgreSQL, replicas skip each other's candidate lanes (``FOR UPDATE SKIP
  LOCKED``). Every write that touches a lane and its job writes the lane first, so they never deadlock.
* Completing a job can claim the worker's next one in the same transaction (a busy lane's next job, when it has
  waited longest), so a lane that must run one job at a time pays one transaction per job.
* A worker that dies leaves a lease that runs out; the job is then claimed again (the claim counts as an
  attempt, so a job that kills its worker every time still ends in the dead letter).
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal_column, or_, select, update
from sqlmodel import Session, col

from bot.db import Database
from bot.models import Job, JobStatus, LaneLease, utcnow
from bot.sqlutil import dialect_insert, insert_ignore, insert_many_ignore
from integrations.failures import Deferral, Permanent

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Written out, not bound: a partial index serves only queries whose condition it can read (ix_jobs_lane_live), and
# a bound parameter's value is unknown when PostgreSQL plans generically or SQLite plans at all.
LIVE = col(Job.status).in_([literal_column(f"'{status}'") for status in (JobStatus.QUEUED, JobStatus.RUNNING)])
REPLAYABLE = (JobStatus.DEAD, JobStatus.QUEUED)  # what retry() accepts: dead, or waiting out a backoff
CLAIM_TRIES = 16  # lanes passed over in one claim (lost races, early heads) before the worker idles a poll
_GONE = timedelta(microseconds=1)  # a released lease ends just before "now"


def own_lane(key: str | None) -> str:
    """The lane of a job that names none: its enqueue key's (a duplicate meets the same lane), else a fresh one."""
    if not key:
        return f"job:{uuid.uuid4().hex}"
    return f"job:{key}" if len(key) <= 250 else f"job:{hashlib.sha256(key.encode()).hexdigest()}"


class PermanentJobError(Permanent):
    """Retrying cannot help: the job goes straight to the dead letter."""


class WaitingFor(Deferral):
    """Not yet: the job waits for other work (closure for the uploads' jobs); rescheduled, no attempt counted."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def is_permanent(exc: BaseException) -> bool:
    """A refusal retrying cannot change: the core's, or any port's (their permanent errors derive from it)."""
    return isinstance(exc, Permanent)


def is_deferral(exc: BaseException) -> bool:
    """Work that said "not yet" (an adapter's pacer, closure waiting for uploads): reschedule, count nothing."""
    return isinstance(exc, Deferral)


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
        row = self._row(kind, payload, key, lane, now, now + timedelta(seconds=delay))
        job_id = insert_ignore(session, Job, row)
        if job_id is not None:
            self._heads(session, {row["lane"]: row["run_at"]})
        self.wakeup.set()
        return int(job_id) if job_id is not None else None

    def enqueue_many(self, session: Session, jobs: list[tuple[str, dict[str, Any], str, str | None]]) -> None:
        """Add (kind, payload, key, lane) jobs in the caller's transaction, in one statement; known keys are skipped."""
        now = self.clock()
        added = insert_many_ignore(session, Job, [self._row(*job, now, now) for job in jobs], returning=("lane",))
        self._heads(session, {lane: now for (lane,) in added})
        self.wakeup.set()

    def _row(self, kind: str, payload: dict[str, Any], key: str | None, lane: str | None, now: datetime,
             run_at: datetime) -> dict[str, Any]:  # fmt: skip
        return {"kind": kind, "key": key, "lane": lane or own_lane(key), "payload": payload, "status": JobStatus.QUEUED,
                "attempts": 0, "max_attempts": self.max_attempts, "run_at": run_at, "created_at": now}  # fmt: skip

    @staticmethod
    def _heads(session: Session, due: dict[str, datetime]) -> None:
        """Bring each lane's ``head_at`` forward to a job just made due then (creating the lane if new)."""
        if not due:
            return
        table = LaneLease.__table__  # type: ignore[attr-defined]
        insert = dialect_insert(session)(table)
        earlier = or_(table.c.head_at.is_(None), insert.excluded.head_at < table.c.head_at)
        stmt = insert.on_conflict_do_update(
            index_elements=[table.c.lane],
            set_={"head_at": case((earlier, insert.excluded.head_at), else_=table.c.head_at)},
        )
        # Sorted: two transactions upserting the same lanes lock them in one order, so they cannot deadlock.
        rows = [{"lane": lane, "holder": "", "until": at - _GONE, "head_at": at} for lane, at in sorted(due.items())]
        session.execute(stmt, rows)

    def submit(self, kind: str, payload: dict[str, Any], **kw: Any) -> int | None:
        """Enqueue in a transaction of its own."""
        with self.db.session() as s:
            job_id = self.enqueue(s, kind, payload, **kw)
            s.commit()
            return job_id

    # -- consuming ---------------------------------------------------------------------------------
    def claim(self, worker_id: str) -> Job | None:
        """Claim the first live job of the lane whose head has waited longest, among lanes nobody else holds."""
        for _ in range(CLAIM_TRIES):
            with self.db.session() as s:
                outcome = self._claim_in(s, worker_id, self.clock())
                s.commit()
            if outcome is None or isinstance(outcome, Job):
                return outcome
        return None

    def _claim_in(self, s: Session, worker_id: str, now: datetime) -> Job | bool | None:
        """Claim in the caller's transaction: the job; ``False`` when the lane picked could not give one (its
        correction is written: try again); ``None`` when no lane is due."""
        quiet = {"synchronize_session": False}  # plain UPDATEs: no session objects to bring up to date
        pick = select(col(LaneLease.lane)).where(
            col(LaneLease.head_at) <= now, or_(col(LaneLease.until) < now, col(LaneLease.holder) == worker_id)
        ).order_by(col(LaneLease.head_at), col(LaneLease.lane)).limit(1)  # fmt: skip
        if self.db.is_postgres:
            pick = pick.with_for_update(skip_locked=True)
        # Pick and take in one statement: SQLite runs it inside its one write transaction, PostgreSQL under the
        # row lock the pick took (skipping lanes other replicas are taking), so two workers never share a lane.
        take = update(LaneLease).where(col(LaneLease.lane) == pick.scalar_subquery())
        take = take.values(holder=worker_id, until=now + self.lease).returning(col(LaneLease.lane))
        lane = s.execute(take, execution_options=quiet).scalar_one_or_none()
        if lane is None:
            return None
        first = select(col(Job.id)).where(col(Job.lane) == lane, LIVE)
        first = first.order_by(col(Job.run_at), col(Job.id)).limit(1)
        lapsed = or_(col(Job.locked_until).is_(None), col(Job.locked_until) < now)  # its worker died
        due = or_(and_(col(Job.status) == JobStatus.QUEUED, col(Job.run_at) <= now),
                  and_(col(Job.status) == JobStatus.RUNNING, lapsed))  # fmt: skip
        run = update(Job).where(col(Job.id) == first.scalar_subquery(), due).returning(Job)
        run = run.values(status=JobStatus.RUNNING, attempts=col(Job.attempts) + 1, locked_by=worker_id,
                         locked_until=now + self.lease)  # fmt: skip
        job = s.execute(run, execution_options=quiet).scalar_one_or_none()
        if job is None:
            # The lane's head was early (its job finished or rescheduled meanwhile): set it right and let the
            # lane go. A later job of the lane never overtakes its first.
            head = s.execute(select(Job).where(col(Job.id) == first.scalar_subquery())).scalar_one_or_none()
            s.execute(update(LaneLease).where(col(LaneLease.lane) == lane)
                      .values(head_at=_next_due(head), until=now - _GONE))  # fmt: skip
            return False
        return job

    def heartbeat(self, job: Job, worker_id: str) -> None:
        until = self.clock() + self.lease
        with self.db.session() as s:
            if job.lane:
                s.execute(
                    update(LaneLease)
                    .where(col(LaneLease.lane) == job.lane, col(LaneLease.holder) == worker_id)
                    .values(until=until)
                )
            mine = update(Job).where(col(Job.id) == job.id, col(Job.locked_by) == worker_id)
            s.execute(mine.values(locked_until=until))
            s.commit()

    def complete(self, job: Job, worker_id: str, *, claim_next: bool = False) -> Job | None:
        """Mark the job done and free its lane; with ``claim_next``, claim the worker's next job in the same
        transaction (its own lane's next, if that is the longest waiting), which saves a busy lane a round of
        transactions per job."""
        now = self.clock()
        with self.db.session() as s:
            self._release_lane(s, job, worker_id, now, None)
            s.execute(
                update(Job)
                .where(col(Job.id) == job.id, col(Job.locked_by) == worker_id)
                .values(status=JobStatus.DONE, finished_at=now, locked_until=None, last_error=None)
            )
            following = self._claim_in(s, worker_id, now) if claim_next else None
            s.commit()
        return following if isinstance(following, Job) else None

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
        again = None if dead else now + timedelta(seconds=delay)
        if again is None:
            values |= {"status": JobStatus.DEAD, "finished_at": now}
        else:
            values |= {"status": JobStatus.QUEUED, "run_at": again}
        with self.db.session() as s:
            self._release_lane(s, job, worker_id, now, again)
            s.execute(update(Job).where(col(Job.id) == job.id, col(Job.locked_by) == worker_id).values(**values))
            s.commit()
        return dead

    def _release_lane(self, s: Session, job: Job, worker_id: str, now: datetime, again: datetime | None) -> None:
        """Free the lane; its head becomes its next live job, or ``again`` if the job itself runs again sooner.

        The lane's row is written before the job's, as the claim takes them, so the two never deadlock.
        """
        if not job.lane:
            return
        if self.db.is_postgres:
            # Wait for the lane's row first, in a statement of its own. An UPDATE that waits for it reads its subquery
            # from before the wait, so a job queued in the lane meanwhile (whose enqueue holds the row until it
            # commits) would be missed and its head_at overwritten: that job would never be claimed.
            s.execute(select(col(LaneLease.lane)).where(col(LaneLease.lane) == job.lane).with_for_update())
        others = select(func.min(Job.run_at)).where(col(Job.lane) == job.lane, LIVE,
                                                    col(Job.id) != job.id).scalar_subquery()  # fmt: skip
        head: Any = others
        if again is not None:
            head = case((others.is_(None), again), (others > again, again), else_=others)
        s.execute(
            update(LaneLease)
            .where(col(LaneLease.lane) == job.lane, col(LaneLease.holder) == worker_id)
            .values(until=now - _GONE, head_at=head)
        )

    # -- operating ---------------------------------------------------------------------------------
    def retry(self, job_id: int) -> Job:
        """Replay a dead-lettered (or failed-and-waiting) job now, with a fresh attempt budget."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise LookupError(f"no job {job_id}")
            if job.status not in REPLAYABLE:
                raise ValueError(f"job {job_id} is {job.status}; only dead or waiting jobs can be retried")
            now = self.clock()
            lane = job.lane or own_lane(job.key)  # a job from before every job had a lane
            self._heads(s, {lane: now})  # the lane first, as everywhere; early if the replay below loses: harmless
            replayed = s.execute(
                update(Job)
                .where(col(Job.id) == job_id, col(Job.status).in_(REPLAYABLE))
                .values(status=JobStatus.QUEUED, attempts=0, run_at=now, finished_at=None, lane=lane)
            ).rowcount  # type: ignore[attr-defined]
            if not replayed:
                raise ValueError(f"job {job_id} was claimed meanwhile; only dead or waiting jobs can be retried")
            s.commit()
            s.refresh(job)
        self.wakeup.set()
        return job

    def list(self, status: str | None = None, limit: int = 100, *, kind: str | None = None,
             lane: str | None = None) -> list[Job]:  # fmt: skip
        """The newest jobs first, of one status, kind or lane when given."""
        with self.db.session() as s:
            q = select(Job).order_by(Job.id.desc()).limit(limit)  # type: ignore[union-attr]
            for column, value in ((col(Job.status), status), (col(Job.kind), kind), (col(Job.lane), lane)):
                if value:
                    q = q.where(column == value)
            return list(s.execute(q).scalars().all())

    def counts(self, kind: str | None = None) -> dict[str, int]:
        """How many jobs there are of each status (of one kind when given)."""
        q = select(col(Job.status), func.count()).group_by(col(Job.status))
        with self.db.session() as s:
            rows = s.execute(q.where(col(Job.kind) == kind) if kind else q).all()
        return {str(status): int(n) for status, n in rows}

    def pending(self) -> int:
        c = self.counts()
        return c.get(JobStatus.QUEUED, 0) + c.get(JobStatus.RUNNING, 0)


def _next_due(head: Job | None) -> datetime | None:
    """When a lane whose first live job is ``head`` should next be looked at."""
    if head is None:
        return None
    return head.run_at if head.status == JobStatus.QUEUED else head.locked_until
