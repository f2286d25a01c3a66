"""Nothing lost, nothing doubled: many cases, every webhook delivered three times to random replicas, a
flaky platform and CRM, and worker processes killed with SIGKILL mid-burst."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.process import BaseProcess
from pathlib import Path

from fastapi.testclient import TestClient

from bot.models import JobStatus
from tests.doubles import SharedState
from tests.reliability.conftest import Form
from tests.replica import start as start_replica
from tests.support import case_event, encode, runtime, signed_headers, wait_until


def events_for(n: int) -> list[dict[str, object]]:
    """Open every case, rotate a third of them, close a third; each event will arrive three times."""
    out: list[dict[str, object]] = []
    for i in range(n):
        number = f"{i:08d}"
        out.append(case_event(f"open-{i}", number=number, customer=f"c{i}@customer.example"))
        if i % 3 == 1:
            out.append(case_event(f"rot-{i}", "case.updated", number=number, occurred_at="2026-11-22T20:00:00Z",
                                  engineer="kenji@support.example", customer=f"c{i}@customer.example"))
        if i % 3 == 2:
            out.append(case_event(f"close-{i}", "case.closed", number=number, occurred_at="2026-11-23T09:00:00Z",
                                  status="Closed", customer=f"c{i}@customer.example"))
    return out


def check_end_state(state: SharedState, n: int, kills: int = 0) -> None:
    """Deliveries arrive shuffled, so a close (or rotation) may be seen before the opening: then a case that
    was already closed gets no room at all, and a rotated case may never see its first engineer."""
    data = state.read()
    created = Counter(data["created"])
    assert max(created.values()) == 1, "never a second room for a case"
    added = Counter(tuple(x) for x in data.get("added", []))
    assert added and max(added.values()) == 1, "one invitation per person and room"
    rooms = data["rooms"]
    for i in range(n):
        number, customer = f"{i:08d}", f"c{i}@customer.example"
        if i % 3 == 2:
            room = rooms.get(number)
            assert room is None or (room["archived"] and room["members"] == {}), f"case {i}: closed rooms are empty"
            continue
        members = set(rooms[number]["members"])
        if i % 3 == 1:
            assert {customer, "kenji@support.example"} <= members <= {customer, "kenji@support.example",
                                                                        "ada@support.example"}, f"case {i}"
        else:
            assert members == {customer, "ada@support.example"}, f"case {i}"
    welcomes = Counter(c["room_id"] for c in state.calls("post") if c["text"].startswith("Welcome"))
    still_open = {r["id"] for r in rooms.values() if not r["archived"]}
    assert still_open <= set(welcomes), "every open room was welcomed"
    # A post is at-least-once: no chat API takes an idempotency key, so a process killed between the
    # platform's answer and our record of it posts again on resume. Only a kill can cause a repeat.
    repeats = sum(v - 1 for v in welcomes.values())
    assert repeats <= kills, f"{repeats} repeated welcomes with {kills} kills"


def deliver_all(clients: list[TestClient], events: list[dict[str, object]]) -> None:
    rng = random.Random(7)
    bodies = [encode(e) for e in events for _ in range(3)]
    rng.shuffle(bodies)  # duplicates arrive apart and out of order, as CRMs deliver them

    def send(body: bytes) -> None:
        r = rng.choice(clients).post("/webhooks/crm", content=body, headers=signed_headers(body))
        assert r.status_code == 200, r.text

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(send, bodies))


def test_a_burst_delivered_three_times_to_three_replicas_through_a_flaky_platform(
    db_url: str, tmp_path: Path, form: Form
) -> None:
    cases = form.cases
    state_file = tmp_path / "platform.json"
    replicas = [runtime(db_url, state_file, CASEROOM_JOB_MAX_ATTEMPTS=50)[0] for _ in range(3)]
    SharedState(state_file).chaos(0.15)  # 15 % of platform and CRM calls fail transiently
    stop = threading.Event()
    workers = [threading.Thread(target=lambda rt=rt: rt.worker().run(stop, poll=0.02)) for rt in replicas]
    for t in workers:
        t.start()
    try:
        deliver_all([TestClient(rt.app) for rt in replicas], events_for(cases))
        queue = replicas[0].queue
        wait_until(lambda: not queue.pending(), form.deadline, lambda: f"jobs still pending: {queue.counts()}")
    finally:
        stop.set()
        for t in workers:
            t.join(30)
    counts = replicas[0].queue.counts()
    assert set(counts) == {JobStatus.DONE}, counts  # nothing dead-lettered, nothing stuck
    check_end_state(SharedState(state_file), cases)


def test_worker_processes_killed_mid_burst_leave_the_same_end_state(db_url: str, tmp_path: Path, form: Form) -> None:
    cases = form.cases
    state_file = tmp_path / "platform.json"
    rt, _ = runtime(db_url, state_file, CASEROOM_JOB_LEASE_SECONDS=1)
    SharedState(state_file)
    done = tmp_path / "done"

    args = [db_url, str(state_file), "--lease", "1", "--until", str(done)]

    def spawn() -> BaseProcess:
        return start_replica(*args, log=tmp_path / "replicas.log")

    procs = [spawn(), spawn()]
    rng = random.Random(11)
    killer_stop = threading.Event()
    kills = 0

    def finished() -> int:
        return rt.queue.counts().get(JobStatus.DONE, 0)

    def killer() -> None:
        # Kill only once the replicas have finished more work since the last kill: a kill on a fixed timer
        # lands mostly on processes still importing when the machine is loaded, and the burst then crawls.
        nonlocal kills
        next_kill_at = finished() + 5
        while not killer_stop.wait(rng.uniform(0.2, 0.6)):
            done = finished()
            if done < next_kill_at or kills >= form.kills:
                continue
            next_kill_at = done + 5
            i = rng.randrange(len(procs))
            procs[i].kill()  # SIGKILL
            procs[i].join()
            kills += 1
            procs[i] = spawn()

    k = threading.Thread(target=killer)
    k.start()
    try:
        deliver_all([TestClient(rt.app)], events_for(cases))
        wait_until(lambda: not rt.queue.pending(), form.deadline, lambda: f"jobs still pending: {rt.queue.counts()}")
    finally:
        killer_stop.set()
        k.join()
        done.touch()
        for p in procs:
            p.join(60)
    assert kills > 0
    rt.worker().drain()
    dead = [(j.kind, j.attempts, j.last_error) for j in rt.queue.list(JobStatus.DEAD)]
    assert not dead
    check_end_state(SharedState(state_file), cases, kills)
