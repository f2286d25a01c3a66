"""A follow-the-sun world for tests: a three-region rota, a clock the test moves, and the scheduler's tick."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bot import timeline
from bot.events import Actor, RoomEvent
from bot.models import TimelineEvent
from bot.runtime import Runtime
from handlers import room_events, shift_handoffs
from integrations.messaging import FileRef
from tests.doubles import SharedState
from tests.support import case_event, encode, runtime, signed_for

ROTA = """
[[region]]
name = "APAC"
timezone = "Asia/Tokyo"
hours = "09:00-18:00"
days = "Mon-Fri"
holidays = [2026-11-23]
  [[region.roster]]
  email = "kenji@support.example"
  name = "Kenji"

[[region]]
name = "EMEA"
timezone = "Europe/Amsterdam"
hours = "08:00-17:00"
days = "Mon-Fri"
  [[region.roster]]
  email = "ada@support.example"
  name = "Ada"

[[region]]
name = "AMER"
timezone = "America/Los_Angeles"
hours = "08:00-17:00"
days = "Mon-Fri"
  [[region.roster]]
  email = "lee@support.example"
  name = "Lee"
"""
ROOM = "room-00001234"
KENJI = {"email": "kenji@support.example", "name": "Kenji", "timezone": "Asia/Tokyo"}
CAROL = Actor("u-carol", "carol@customer.example", "Carol Customer")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class FakeClock:
    """Wall-clock time as the test says it is; shared by the services and the job queue."""

    def __init__(self, at: str) -> None:
        self.now = utc(at)

    def __call__(self) -> datetime:
        return self.now

    def set(self, at: str) -> None:
        self.now = utc(at)


def rota_file(tmp_path: Path, text: str = ROTA) -> Path:
    path = tmp_path / "shifts.toml"
    path.write_text(text)
    return path


def world(db_url: str, state_file: Path, rota: Path, clock: FakeClock, **overrides: Any) -> Runtime:
    rt, _ = runtime(db_url, state_file, CASEROOM_SHIFTS_FILE=str(rota), **overrides)
    rt.services.clock = clock
    rt.queue.clock = clock
    return rt


def open_case(rt: Runtime, clock: FakeClock, *, number: str = "00001234", priority: str = "P2",
              engineer: dict[str, str] | None = None, event_id: str = "evt_open") -> None:  # fmt: skip
    event = case_event(event_id, occurred_at=clock.now.isoformat(), number=number, engineer=None)
    event["case"]["engineer"] = engineer or KENJI
    event["case"]["priority"] = priority
    deliver(rt, event)


def deliver(rt: Runtime, event: dict[str, Any]) -> None:
    body = encode(event)
    r = TestClient(rt.app).post("/webhooks/crm", content=body, headers=signed_for(rt, body))
    assert r.status_code == 200, r.text
    rt.worker().drain()


def said(rt: Runtime, clock: FakeClock, actor: Actor, kind: str, text: str = "", files: tuple[str, ...] = ()) -> None:
    """Something happened in the case room at the clock's time, as a platform would report it."""
    n = int(clock.now.timestamp())
    ev = RoomEvent("webex", ROOM, kind, f"ev-{kind}-{n}", clock.now, actor, text,  # type: ignore[arg-type]
                   message_id=f"msg-{n}", files=tuple(FileRef(f"file-{f}", f, 1200) for f in files))  # fmt: skip
    rt.queue.submit(room_events.KIND, ev.to_payload(), lane=room_events.lane("webex", ROOM))
    rt.worker().drain()


def tick(rt: Runtime, clock: FakeClock, at: str, *, drain: bool = True) -> None:
    """The scheduler leader's minute tick for the shift clock at ``at``, then the workers' turn."""
    clock.set(at)
    every = next(p for p in rt.scheduler.periodic if p.kind == shift_handoffs.CLOCK_KIND)
    rt.scheduler.tick(every)
    if drain:
        rt.worker().drain()


def handoffs(rt: Runtime, case_id: int = 1) -> list[TimelineEvent]:
    with rt.db.session() as s:
        return timeline.events(s, case_id, kinds={timeline.Kind.HANDOFF})


def cards(state: SharedState, room: str = ROOM) -> list[str]:
    return [c["text"] for c in state.calls("post") if c["room_id"] == room and c["text"].startswith("Handoff:")]


def invites(state: SharedState, email: str, room: str = ROOM) -> int:
    return sum(1 for c in state.calls("add_member") if c["email"] == email and c["room_id"] == room)
