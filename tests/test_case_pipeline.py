"""The durable pipeline end to end: signed CRM webhook -> stored delivery + job -> worker -> ports."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot import cases, copy
from bot.models import JobStatus
from tests.doubles import SharedState
from tests.support import case_event, encode, runtime, signed_headers


def deliver(client: TestClient, event: dict[str, object]) -> dict[str, object]:
    body = encode(event)
    r = client.post("/webhooks/crm", content=body, headers=signed_headers(body))
    assert r.status_code == 200, r.text
    out: dict[str, object] = r.json()
    return out


def invites(state: SharedState) -> Counter[str]:
    return Counter(c["email"] for c in state.calls("add_member"))


def test_opened_case_gets_a_room_members_and_its_url_on_the_crm(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    assert deliver(client, case_event()) == {"ok": True, "duplicate": False}
    assert rt.worker().drain() == 2  # the case event, then the room URL's write to the CRM

    state = SharedState(state_file)
    assert state.read()["created"] == ["00001234"]
    assert invites(state) == {"carol@customer.example": 1, "ada@support.example": 1}
    assert state.calls("crm.write_room_url") == [
        {"method": "crm.write_room_url", "crm_id": "50000001234", "url": "https://caseroom.example/rooms/00001234"}
    ]
    welcome = [c["text"] for c in state.calls("post")]
    assert len(welcome) == 1 and "00001234" in welcome[0]

    r = client.get("/rooms/00001234", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "https://chat.example/room-00001234"
    assert client.get("/rooms/99999999").status_code == 404


def test_the_same_event_three_times_makes_one_room_and_one_invitation_each(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    answers = [deliver(client, case_event()) for _ in range(3)]
    assert [a["duplicate"] for a in answers] == [False, True, True]
    rt.worker().drain()
    state = SharedState(state_file)
    assert state.read()["created"] == ["00001234"]
    assert invites(state) == {"carol@customer.example": 1, "ada@support.example": 1}
    assert len(state.calls("post")) == 1


def test_concurrent_deliveries_and_workers_make_one_room(db_url: str, state_file: Path) -> None:
    """Three threads deliver the same event while three workers run; then three distinct events for one case."""
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    barrier = threading.Barrier(6)

    def send(event_id: str) -> dict[str, object]:
        barrier.wait()
        return deliver(client, case_event(event_id))

    def work(i: int) -> None:
        barrier.wait()
        w = rt.worker(f"w{i}")
        for _ in range(50):
            w.drain(timeout=5)

    # Futures, not bare threads: an assertion or error inside a thread is raised here by .result().
    with ThreadPoolExecutor(6) as pool:
        sent = [pool.submit(send, "evt_same") for _ in range(3)]
        worked = [pool.submit(work, i) for i in range(3)]
        results = [f.result(timeout=60) for f in sent]
        for f in worked:
            f.result(timeout=60)
    assert sorted(r["duplicate"] for r in results) == [False, True, True]

    # A CRM that re-sends the same change under new ids (Salesforce does) must not double anything either.
    with ThreadPoolExecutor(3) as pool:
        for f in [pool.submit(deliver, client, case_event(f"evt_{i}")) for i in range(3)]:
            f.result(timeout=30)
    rt.worker().drain()

    state = SharedState(state_file)
    assert state.read()["created"] == ["00001234"]
    assert invites(state) == {"carol@customer.example": 1, "ada@support.example": 1}
    assert len(state.calls("crm.write_room_url")) == 1
    assert rt.queue.counts() == {JobStatus.DONE: 5}  # 4 case events, 1 room URL


def test_rotation_invites_the_new_engineer_keeps_the_old_and_posts_one_handoff(
    db_url: str, state_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    deliver(client, case_event())
    rotated = case_event("evt_2", "case.updated", occurred_at="2026-11-22T20:00:00Z", engineer="kenji@support.example")
    deliver(client, rotated)
    rt.worker().drain()
    rotated["id"] = "evt_2_resent"
    deliver(client, rotated)
    rt.worker().drain()

    state = SharedState(state_file)
    room = state.read()["rooms"]["00001234"]
    assert set(room["members"]) == {"carol@customer.example", "ada@support.example", "kenji@support.example"}
    assert invites(state)["kenji@support.example"] == 1
    handoffs = [c["text"] for c in state.calls("post") if "Kenji" in c["text"]]
    assert len(handoffs) == 1 and "Ada" in handoffs[0]
    assert any("Kenji" in c["text"] for c in state.calls("crm.add_comment"))
    told = [r.getMessage() for r in caplog.records if getattr(r, "case", None) == "00001234"]
    assert [m for m in told if m.startswith("handed to ")] == [
        f"handed to kenji@support.example from ada@support.example: {copy.OWNER_CHANGED}"], told  # fmt: skip


def test_out_of_order_events_never_reopen_a_closed_room_and_the_newest_wins(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    deliver(client, case_event())
    rt.worker().drain()
    deliver(client, case_event("evt_close", "case.closed", occurred_at="2026-11-23T09:00:00Z", status="Closed"))
    rt.worker().drain()
    # An update sent before the close arrives late, naming a new engineer: it must change nothing.
    late = case_event("evt_late", "case.updated", occurred_at="2026-11-23T08:00:00Z", engineer="late@support.example")
    deliver(client, late)
    rt.worker().drain()

    state = SharedState(state_file)
    room = state.read()["rooms"]["00001234"]
    assert room["archived"] is True and room["members"] == {}
    assert invites(state)["late@support.example"] == 0
    assert state.read()["created"] == ["00001234"]
    assert client.get("/rooms/00001234", follow_redirects=False).status_code == 410
    attached = [c["name"] for c in state.calls("crm.attach_file")]
    assert any(name.endswith(".html") for name in attached)


def test_the_timeline_keeps_every_step_in_utc_with_its_actor(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    deliver(client, case_event())
    deliver(client, case_event("evt_2", "case.updated", occurred_at="2026-11-22T20:00:00Z", engineer="kenji@x.example"))
    deliver(client, case_event("evt_3", "case.closed", occurred_at="2026-11-23T09:00:00Z", status="Closed"))
    rt.worker().drain()
    from bot import timeline

    with rt.db.session() as s:
        events = timeline.events(s, 1)
    kinds = Counter(e.kind for e in events)
    assert kinds[timeline.Kind.CASE] == 3
    assert kinds[timeline.Kind.INVITE] == 3
    assert kinds[timeline.Kind.HANDOFF] == 1
    assert kinds[timeline.Kind.REMOVE] == 3
    states = [e.text for e in events if e.kind == timeline.Kind.STATE]
    assert any("open" in t for t in states) and any("closed" in t for t in states)
    assert all(e.at.utcoffset() is not None and e.at.utcoffset().total_seconds() == 0 for e in events)
    first = next(e for e in events if e.kind == timeline.Kind.CASE)
    assert first.at.isoformat() == "2026-11-22T18:00:00+00:00"


def test_steps_finished_at_the_same_time_are_all_remembered(db_url: str, state_file: Path) -> None:
    """An opening's steps (URL write-back, invitations, room set-up) finish in parallel; a later event for
    the case must find every one of them done, or it repeats it (a second URL write on the CRM case)."""
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    deliver(client, case_event())
    rt.worker().drain()
    with rt.db.session() as s:
        case = cases.get_case(s, "50000001234")
    assert case is not None
    names = [f"step_{i}" for i in range(8)]
    barrier = threading.Barrier(len(names))

    def mark(name: str) -> None:
        barrier.wait()
        with rt.db.session() as s:
            room = cases.ensure_room_row(s, case, case.platform)
            cases.mark_step(s, room, name, rt.services.clock())
            s.commit()

    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(mark, names, timeout=30))  # raises what a thread raised
    with rt.db.session() as s:
        room = cases.ensure_room_row(s, case, case.platform)
        assert set(names) <= set(room.steps)
