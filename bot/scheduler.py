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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text

from bot.services import Services

log = logging.getLogger(__name__)

LOCK_NAME = "caseroom:scheduler-leader"
JOB_TABLE = "apscheduler_jobs"
# Stored jobs name a module-level function and plain arguments; they find this process's leader here.
_LEADERS: dict[str, LeaderScheduler] = {}


def run_periodic(leader_id: str, kind: str, every_seconds: int) -> None:
    leader = _LEADERS.get(leader_id)
    if leader is None:  # a job stored by a leader that is gone; the current leader re-points it on taking over
        return
    leader.tick(Periodic(kind, every_seconds))


@dataclass(frozen=True)
class Periodic:
    kind: str  # durable job kind to enqueue
    every_seconds: int


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
        self.id = uuid.uuid4().hex

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
        _LEADERS[self.id] = self
        sched = BackgroundScheduler(timezone="UTC")
        sched.add_jobstore(SQLAlchemyJobStore(engine=self.sv.db.engine, tablename=JOB_TABLE), "default")
        sched.start(paused=True)  # re-point the stored jobs at this leader before any of them fires
        wanted = {p.kind: p for p in self.periodic}
        for job in sched.get_jobs():
            if job.id not in wanted:
                job.remove()  # a kind no longer configured (e.g. a plugin was removed)
        for p in wanted.values():
            args = [self.id, p.kind, p.every_seconds]
            stored = sched.get_job(p.kind)
            same = stored is not None and isinstance(stored.trigger, IntervalTrigger) \
                and stored.trigger.interval.total_seconds() == p.every_seconds
            if stored is not None and same:
                stored.modify(args=args)  # keeps its next run time
            else:
                sched.add_job(run_periodic, "interval", seconds=p.every_seconds, args=args, id=p.kind,
                              replace_existing=True, coalesce=True, max_instances=1,
                              misfire_grace_time=p.every_seconds)  # fmt: skip
        sched.resume()
        self._scheduler = sched
        self.is_leader.set()
        if self.on_lead:
            self.on_lead()

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
        _LEADERS.pop(self.id, None)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._conn is not None:
            self.sv.db.release_leader_lock(self._conn)
            self._conn = None
        self.is_leader.clear()
