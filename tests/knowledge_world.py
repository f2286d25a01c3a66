"""A case with a lived-in room, built through the real pipeline at fixed times, for transcript and search tests.

Everything enters the way it does in production: signed CRM webhooks, room events and commands as jobs,
drained by a worker. The services' clock ticks one second per reading, so the timeline is the same on
every run and on both databases (only ``cases.created_at`` is the wall clock; tests normalise it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bot.events import Actor, CommandRequest, RoomEvent
from bot.runtime import Runtime
from handlers import command_requests, room_events
from integrations.messaging import FileRef
from tests.doubles import FakeCRM, SharedState
from tests.support import case_event, encode, runtime, signed_for

ROOM = "room-00001234"
START = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
ADA = Actor("u-ada", "ada@support.example", "Ada")
CAROL = Actor("u-carol", "carol@customer.example", "Carol Customer")
DAVE = Actor("u-dave", "dave@customer.example", "Dave <img src=x onerror=alert(1)>")
HOSTILE = "<script>alert('x')</script> & \"quotes\" [link](javascript:alert(1))"


class Tick:
    """A clock that moves one second each time it is read."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def deliver(rt: Runtime, event: dict[str, Any]) -> None:
    body = encode(event)
    r = TestClient(rt.app).post("/webhooks/crm", content=body, headers=signed_for(rt, body))
    assert r.status_code == 200, r.text
    rt.worker().drain()


def room_event(rt: Runtime, kind: str, event_id: str, at: datetime, actor: Actor, **kw: Any) -> None:
    ev = RoomEvent("webex", kw.pop("room_id", ROOM), kind, event_id, at, actor, **kw)  # type: ignore[arg-type]
    rt.queue.submit(room_events.KIND, ev.to_payload())
    rt.worker().drain()


def command(rt: Runtime, state_file: Path, text: str, actor: Actor, at: datetime, room_id: str = ROOM) -> str:
    """Run ``/case <text>`` as ``actor``; the answer it got (private or public)."""
    state = SharedState(state_file)
    seen = len(state.calls())
    req = CommandRequest("webex", room_id, actor, text, at)
    rt.queue.submit(command_requests.KIND, req.to_payload())
    rt.worker().drain()
    answers = [c for c in state.calls()[seen:] if c["method"] in ("reply_private", "post")]
    assert answers, f"/case {text} was not answered"
    out: str = answers[-1]["text"]
    return out


def opened_case(db_url: str, state_file: Path, **event: Any) -> tuple[Runtime, FakeCRM]:
    # A ticking clock and one call at a time: the timeline (and so the golden transcripts) comes out the same.
    rt, crm = runtime(db_url, state_file, CASEROOM_PARALLEL_CALLS=1)
    rt.services.clock = Tick(START)
    opened = case_event(occurred_at="2026-11-22T18:00:00Z", **event)
    opened["case"]["link"] = "https://crm.example/lightning/r/Case/50000001234/view"
    deliver(rt, opened)
    return rt, crm


def lived_in_room(db_url: str, state_file: Path) -> tuple[Runtime, FakeCRM]:
    """Case 00001234 over two UTC days: threads, an edit, a deletion, a file, a note, a join, a leave, a handoff."""
    rt, crm = opened_case(db_url, state_file)
    at = START + timedelta(minutes=5)
    room_event(rt, "message", "e1", at, CAROL, text="The VPN drops every hour.\nSecond line.", message_id="m1")
    room_event(rt, "message", "e2", at + timedelta(minutes=1), ADA, text="Which client version?", message_id="m2")
    room_event(rt, "message", "e3", at + timedelta(minutes=3), CAROL, text="5.1, see the capture",
               message_id="m3", parent_id="m1")  # fmt: skip
    room_event(rt, "file", "e4", at + timedelta(minutes=4), CAROL,
               files=(FileRef("f1", "capture <1>.pcap", 2_300_000, "application/vnd.tcpdump.pcap"),))  # fmt: skip
    room_event(rt, "joined", "e5", at + timedelta(minutes=10), DAVE)
    room_event(rt, "message", "e6", at + timedelta(minutes=11), DAVE, text=HOSTILE, message_id="m6")
    room_event(rt, "message_deleted", "e7", at + timedelta(minutes=12), DAVE, message_id="m6")
    room_event(rt, "message_changed", "e8", at + timedelta(minutes=13), ADA, text="Which client version, exactly?",
               message_id="m2")  # fmt: skip
    # Past midnight UTC: a reply to the first thread (nested under it) and a new top-level message.
    late = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    room_event(rt, "message", "e9", late, ADA, text="Lowering the MTU to 1400 fixed the flapping tunnel.",
               message_id="m9", parent_id="m1")  # fmt: skip
    room_event(rt, "message", "e10", late + timedelta(minutes=1), CAROL, text="Confirmed, thank you!", message_id="m10")
    clock = rt.services.clock
    assert isinstance(clock, Tick)
    clock.now = late + timedelta(minutes=2)  # the note and the handoff are stamped by the services' clock
    command(rt, state_file, "note MTU 1400 is the fix; see KB-77", ADA, late + timedelta(minutes=2))
    room_event(rt, "left", "e11", late + timedelta(minutes=3), DAVE)
    clock.now = late + timedelta(minutes=10)
    handoff = case_event("evt_2", "case.updated", occurred_at="2026-11-23T00:40:00Z", engineer="kenji@support.example")
    deliver(rt, handoff)
    return rt, crm
