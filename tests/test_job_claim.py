"""The job claim: lanes run one job at a time and in order, a busy lane never idles the other workers, a claim
that loses leaves nothing behind, and a dead worker's job comes back."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import select

from bot import maintenance
from bot.db import Database
from bot.jobs import JobQueue
from bot.models import Delivery, Job, JobStatus, LaneLease
from bot.services import Services
from bot.worker import JobKind, Worker
from tests.support import settings, wait_until

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_lane_held_by_one_worker_does_not_idle_the_others_however_deep_its_backlog(db: Database) -> None:
    clock = Clock()
    queue = JobQueue(db, clock=clock)
    for n in range(40):  # a busy channel's burst, older than anything else queued
        queue.submit("room.event", {"n": n}, lane="room:slack:C-BUSY")
    clock.now += timedelta(seconds=1)
    queue.submit("room.event", {"n": "quiet"}, lane="room:slack:C-QUIET")
    queue.submit("case.event", {"n": "unlaned"})

    busy = queue.claim("worker-1")
    assert busy is not None and busy.payload == {"n": 0}
    others = [queue.claim("worker-2"), queue.claim("worker-3")]
    assert sorted(str(j.payload["n"]) for j in others if j) == ["quiet", "unlaned"]
    assert queue.claim("worker-4") is None  # the busy lane's next job waits for its first


def test_a_lane_runs_its_jobs_in_order_and_a_retried_job_goes_behind_those_due_before_it(db: Database) -> None:
    clock = Clock()
    queue = JobQueue(db, clock=clock, seed=1)
    for n in range(3):
        queue.submit("room.event", {"n": n}, lane="case:1")
    first = queue.claim("worker-1")
    assert first is not None and first.payload == {"n": 0}
    assert queue.fail(first, "worker-1", RuntimeError("platform said 500")) is False
    # The lane is free again, and its next due job is the second: the first waits out its backoff.
    second = queue.claim("worker-2")
    assert second is not None and second.payload == {"n": 1}
    queue.complete(second, "worker-2")
    third = queue.claim("worker-1")
    assert third is not None and third.payload == {"n": 2}
    queue.complete(third, "worker-1")
    assert queue.claim("worker-1") is None
    clock.now += timedelta(minutes=15)  # beyond any backoff of a first attempt
    again = queue.claim("worker-2")
    assert again is not None and (again.payload, again.attempts) == ({"n": 0}, 2)


def test_a_dead_workers_job_is_claimed_again_when_its_lease_runs_out_and_its_lane_waits_for_it(db: Database) -> None:
    clock = Clock()
    queue = JobQueue(db, clock=clock, lease_seconds=60)
    queue.submit("room.event", {"n": 0}, lane="case:1")
    queue.submit("room.event", {"n": 1}, lane="case:1")
    crashed = queue.claim("worker-1")
    assert crashed is not None and crashed.payload == {"n": 0}
    clock.now += timedelta(seconds=59)
    assert queue.claim("worker-2") is None  # held: the second job never overtakes the first
    clock.now += timedelta(seconds=2)
    again = queue.claim("worker-2")
    assert again is not None and (again.id, again.attempts, again.locked_by) == (crashed.id, 2, "worker-2")
    queue.complete(crashed, "worker-1")  # the dead worker's late word changes nothing
    with db.session() as s:
        assert s.get(Job, crashed.id).status == JobStatus.RUNNING  # type: ignore[union-attr]


def test_a_duplicate_or_delayed_job_leaves_its_lane_claimable_at_the_right_time(db: Database) -> None:
    clock = Clock()
    queue = JobQueue(db, clock=clock)
    assert queue.submit("case.event", {"n": 0}, key="evt-1", lane="case:1", delay=30) is not None
    assert queue.submit("case.event", {"n": 0}, key="evt-1", lane="case:1") is None  # a redelivery
    assert queue.claim("worker-1") is None
    clock.now += timedelta(seconds=30)
    job = queue.claim("worker-1")
    assert job is not None and job.key == "evt-1"


def test_four_workers_drain_shared_lanes_one_job_of_a_lane_at_a_time_in_order_and_leave_no_lease(
    db: Database,
) -> None:
    queue = JobQueue(db)
    lanes = [f"room:slack:C{n}" for n in range(5)]
    expected: dict[str, list[int]] = defaultdict(list)
    with db.session() as s:
        for n in range(200):
            lane = lanes[0] if n % 2 else lanes[n % len(lanes)]  # one lane holds over half of them
            queue.enqueue(s, "room.event", {"n": n}, key=f"e{n}", lane=lane)
            expected[lane].append(n)
        s.commit()
    ran: dict[str, list[int]] = defaultdict(list)
    running: set[str] = set()
    overlaps: list[str] = []
    guard = threading.Lock()

    def run(job: Job) -> None:
        assert job.lane is not None
        with guard:
            if job.lane in running:
                overlaps.append(job.lane)
            running.add(job.lane)
            ran[job.lane].append(job.payload["n"])
        queue.counts()  # some real work (a query), time for another worker to trespass on the lane if it could
        with guard:
            running.discard(job.lane)

    stop = threading.Event()
    workers = [Worker(queue, {"room.event": JobKind(run)}, name=f"worker-{i}") for i in range(4)]
    threads = [threading.Thread(target=w.run, args=(stop, 0.02), daemon=True) for w in workers]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: queue.pending() == 0, 60, lambda: f"{queue.counts()} jobs, {len(overlaps)} overlaps")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert overlaps == []
    assert dict(ran) == dict(expected)
    with db.session() as s:
        leases = s.exec(select(LaneLease)).all()
        assert [lease.lane for lease in leases if lease.until >= queue.clock() or lease.head_at] == []


def test_the_hourly_purge_forgets_old_finished_jobs_old_deliveries_and_idle_lanes_and_nothing_live(
    db: Database, db_url: str
) -> None:
    clock = Clock()
    queue = JobQueue(db, clock=clock)
    sv = Services(settings=settings(db_url), db=db, queue=queue, clock=clock)
    queue.submit("case.event", {"n": "done"}, lane="case:1")
    queue.submit("case.event", {"n": "waiting"}, delay=30 * 86400)  # its own lane, live for a month
    finished = queue.claim("worker-1")
    assert finished is not None
    queue.complete(finished, "worker-1")
    with db.session() as s:
        s.add(Delivery(source="crm", delivery_id="old", payload="{}", received_at=T0 - timedelta(days=31)))
        s.add(Delivery(source="crm", delivery_id="recent", payload="{}", received_at=T0))
        s.commit()

    clock.now = T0 + timedelta(days=8)
    maintenance.purge(sv)

    with db.session() as s:
        jobs = s.exec(select(Job)).all()
        assert [j.payload["n"] for j in jobs] == ["waiting"]
        assert s.exec(select(Delivery.delivery_id)).all() == ["recent"]
        assert s.exec(select(LaneLease.lane)).all() == [jobs[0].lane]  # case:1, idle for a week, is gone
    clock.now += timedelta(days=30)
    waiting = queue.claim("worker-1")
    assert waiting is not None and waiting.payload == {"n": "waiting"}


def test_completing_a_job_claims_the_next_longest_waiting_one_in_the_same_transaction(db: Database) -> None:
    clock = Clock()
    queue = JobQueue(db, clock=clock)
    queue.submit("room.event", {"n": "a1"}, lane="room:A")
    queue.submit("room.event", {"n": "a2"}, lane="room:A")
    clock.now += timedelta(seconds=1)
    queue.submit("room.event", {"n": "b1"}, lane="room:B")
    clock.now += timedelta(seconds=1)
    queue.submit("room.event", {"n": "a3"}, lane="room:A")
    order = []
    job = queue.claim("worker-1")
    while job is not None:
        order.append(job.payload["n"])
        job = queue.complete(job, "worker-1", claim_next=True)
    # Its own lane's next while that has waited longest, then the other lane's older job: oldest first throughout.
    assert order == ["a1", "a2", "b1", "a3"]


def test_a_stopping_worker_runs_the_job_it_already_claimed_and_claims_no_other(db: Database) -> None:
    queue = JobQueue(db)
    ran: list[int] = []
    worker = Worker(queue, {"room.event": JobKind(lambda job: ran.append(job.payload["n"]))}, name="worker-1")
    for n in range(3):
        queue.submit("room.event", {"n": n}, lane="room:A")
    assert worker.run_once()  # ran the first, and its completion claimed the second
    stop = threading.Event()
    stop.set()
    worker.run(stop)
    assert ran == [0, 1]
    assert queue.counts() == {JobStatus.DONE: 2, JobStatus.QUEUED: 1}
    other = queue.claim("worker-2")  # nothing left held: the third is anyone's at once
    assert other is not None and other.payload == {"n": 2}


def test_a_job_queued_in_a_lane_while_its_last_job_completes_is_still_claimed(pg_db: Database) -> None:
    queue = JobQueue(pg_db)
    queue.submit("room.event", {"n": 1}, lane="room:A")
    first = queue.claim("worker-1")
    assert first is not None
    with pg_db.session() as delivery:  # a webhook's transaction queues the lane's next job and has not committed yet
        queue.enqueue(delivery, "room.event", {"n": 2}, lane="room:A")
        completing = threading.Thread(target=queue.complete, args=(first, "worker-1"))
        completing.start()

        def waiting_for_the_lane() -> bool:
            with pg_db.session() as s:
                return bool(s.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                           "AND wait_event_type = 'Lock'")).scalar())  # fmt: skip

        wait_until(waiting_for_the_lane, 30, lambda: "the completion never waited for the lane")
        delivery.commit()
    completing.join(30)
    second = queue.claim("worker-2")
    assert second is not None and second.payload == {"n": 2}
