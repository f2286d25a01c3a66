"""APScheduler, run by exactly one leader among the replicas.

The leader holds a PostgreSQL advisory lock on a dedicated connection (on SQLite one process owns the
database, so it always leads). A leader that dies drops its connection and with it the lock; another
replica's next attempt takes over. APScheduler only *enqueues* durable jobs keyed by their due time, so a
tick fired twice during a hand-over still makes one job, and the work itself runs in the job workers.

APScheduler's jobs live in the same database (SQLAlchemy job store, table ``apscheduler_jobs``), so a new
leader keeps the schedule where the old one left it: a tick that fell due while nobody led runs once
(coalesced) as soon as someone leads, instead of the interval starting over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text

from bot.services import Services

log = logging.getLogger(__name__)

LOCK_NAME = "caseroom:scheduler-leader"
JOB_TABLE = "apscheduler_jobs"


@dataclass(frozen=True)
class Periodic:
    kind: str  # durable job kind to enqueue
    every_seconds: int


def due(kind: str, every_seconds: int) -> Periodic:
    """What a stored job runs: it only names its period. The leader whose scheduler ran it enqueues the work.

    A stored job can name nothing but an importable function and plain arguments, so it cannot point at a
    leader object; the leader hears the run through its own scheduler's listener (``_ran``) instead of a
    module-level table of leaders that two runtimes in one process would share.
    """
    return Periodic(kind, every_seconds)


def run_periodic(leader_id: str, kind: str, every_seconds: int) -> Periodic:
    """What jobs stored by earlier releases name; a new leader re-points them at :func:`due` on taking over."""
    return due(kind, every_seconds)


class LeaderScheduler:
    def __init__(self, sv: Services, periodic: list[Periodic], *, retry_seconds: float = 10.0) -> None:
        self.sv = sv
        self.periodic = periodic
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler-leader", daemon=True)
        self._conn: Any = None
        self._scheduler: BackgroundScheduler | None = None
        self.on_lead: Callable[[], None] | None = None  # tests observe leadership changes
        self.is_leader = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._resign()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._conn is None:
                self._conn = self.sv.db.try_leader_lock(LOCK_NAME)
                if self._conn is not None:
                    self._lead()
            elif not self._still_connected():
                log.warning("scheduler leader lost its database connection; resigning")
                self._resign()
            self._stop.wait(self.retry_seconds)

    def _lead(self) -> None:
        log.info("this process is the scheduler leader")
        sched = BackgroundScheduler(timezone="UTC")
        sched.add_listener(self._ran, EVENT_JOB_EXECUTED)
        sched.add_jobstore(SQLAlchemyJobStore(engine=self.sv.db.engine, tablename=JOB_TABLE), "default")
        sched.start(paused=True)  # re-point the stored jobs at this leader before any of them fires
        wanted = {p.kind: p for p in self.periodic}
        for job in sched.get_jobs():
            if job.id not in wanted:
                job.remove()  # a kind no longer configured (e.g. a plugin was removed)
        for p in wanted.values():
            args = [p.kind, p.every_seconds]
            stored = sched.get_job(p.kind)
            same = stored is not None and isinstance(stored.trigger, IntervalTrigger) \
                and stored.trigger.interval.total_seconds() == p.every_seconds
            if stored is not None and same:
                stored.modify(func=due, args=args)  # keeps its next run time
            else:
                sched.add_job(due, "interval", seconds=p.every_seconds, args=args, id=p.kind,
                              replace_existing=True, coalesce=True, max_instances=1,
                              misfire_grace_time=p.every_seconds)  # fmt: skip
        sched.resume()
        self._scheduler = sched
        self.is_leader.set()
        if self.on_lead:
            self.on_lead()

    def _ran(self, event: JobExecutionEvent) -> None:
        if isinstance(event.retval, Periodic):
            self.tick(event.retval)

    def tick(self, p: Periodic) -> None:
        """Enqueue one durable job per period; the key makes a double tick (two leaders briefly) harmless."""
        bucket = int(self.sv.clock().timestamp()) // p.every_seconds
        self.sv.queue.submit(p.kind, {"bucket": bucket}, key=f"periodic:{p.kind}:{bucket}")

    def _still_connected(self) -> bool:
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
        except Exception:  # noqa: BLE001 — any failure here means we can no longer prove leadership
            return False
        return True

    def _resign(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._conn is not None:
            self.sv.db.release_leader_lock(self._conn)
            self._conn = None
        self.is_leader.clear()
