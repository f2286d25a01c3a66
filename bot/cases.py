"""Case and room records: upsert from CRM events (newest wins), look-ups, room state and steps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from bot import timeline
from bot.jobs import PermanentJobError
from bot.models import Case, Room, RoomState
from bot.sqlutil import insert_ignore
from integrations.crm import CaseSnapshot, Person

# Which state may follow which. ``failed`` can be retried (replay) or closed.
TRANSITIONS: dict[RoomState, set[RoomState]] = {
    RoomState.OPENING: {RoomState.OPEN, RoomState.FAILED, RoomState.CLOSING},
    RoomState.OPEN: {RoomState.CLOSING, RoomState.FAILED},
    RoomState.CLOSING: {RoomState.CLOSED, RoomState.FAILED},
    RoomState.FAILED: {RoomState.OPENING, RoomState.CLOSING},
    RoomState.CLOSED: set(),
}


class InvalidTransition(Exception):
    pass


@dataclass(frozen=True)
class Upsert:
    case: Case
    applied: bool  # False: the event was older than what we already applied
    previous_engineer: Person | None
    first: bool = False  # the first event applied to this case


class ForeignCase(PermanentJobError):
    """An event names a case CaseRoom holds for another CRM (its id, or its number): acting on it would write one
    CRM's case onto another's."""


def upsert_case(s: Session, snap: CaseSnapshot, occurred_at: datetime, platform: str, crm: str) -> Upsert:
    insert_ignore(
        s,
        Case,
        {"crm_id": snap.crm_id, "number": snap.number, "platform": platform, "crm": crm, "subject": "",
         "description": ""},
    )  # fmt: skip
    q = select(Case).where(Case.crm_id == snap.crm_id)  # type: ignore[arg-type]
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    case = s.execute(q).scalar_one_or_none()
    if case is None:  # the insert was ignored for its number: another CRM's case has it
        holder = case_by_number(s, snap.number)
        raise ForeignCase(f"case number {snap.number} already belongs to case {holder.crm_id if holder else '?'} "
                          f"from {_crm_label(holder.crm if holder else '')}; {crm} case {snap.crm_id} cannot have it")
    if case.crm and case.crm != crm:
        raise ForeignCase(f"case {snap.crm_id} belongs to {_crm_label(case.crm)}, not to {crm}: event ignored")
    case.crm = crm  # a case recorded before its CRM was kept learns it from its next event
    previous = (
        Person(case.engineer_email, case.engineer_name or "", case.engineer_timezone) if case.engineer_email else None
    )
    if case.last_event_at and occurred_at < case.last_event_at:
        return Upsert(case, False, previous)
    case.number = snap.number
    case.subject = snap.subject
    case.description = snap.description
    case.status = snap.status
    case.priority = snap.priority
    case.link = snap.link or case.link
    if snap.customer:
        case.customer_email = snap.customer.email.lower()
        case.customer_name = snap.customer.name
    # A queue owner (no engineer) does not erase who worked the case before.
    if snap.engineer:
        case.engineer_email = snap.engineer.email.lower()
        case.engineer_name = snap.engineer.name
        case.engineer_timezone = snap.engineer.timezone
    first = case.last_event_at is None
    case.last_event_at = occurred_at
    s.add(case)
    return Upsert(case, True, previous, first)


def _crm_label(crm: str) -> str:
    return crm or "a CRM not recorded"


def lane(crm_id: str) -> str:
    """The job lane of one case: its events, rotations and handoffs run one at a time, in order."""
    return f"case:{crm_id}"


def get_case(s: Session, crm_id: str) -> Case | None:
    return s.execute(select(Case).where(Case.crm_id == crm_id)).scalar_one_or_none()  # type: ignore[arg-type]


def case_by_number(s: Session, number: str) -> Case | None:
    return s.execute(select(Case).where(Case.number == number)).scalar_one_or_none()  # type: ignore[arg-type]


def room_of(s: Session, case_id: int) -> Room | None:
    return s.execute(select(Room).where(Room.case_id == case_id)).scalar_one_or_none()  # type: ignore[arg-type]


def ensure_room_row(s: Session, case: Case, platform: str) -> Room:
    assert case.id is not None
    insert_ignore(s, Room, {"case_id": case.id, "platform": platform, "state": RoomState.OPENING, "steps": {}})
    room = room_of(s, case.id)
    assert room is not None
    return room


def find_by_room(s: Session, platform: str, room_id: str) -> tuple[Case, Room] | None:
    row = s.execute(
        select(Case, Room)
        .join(Room, Room.case_id == Case.id)  # type: ignore[arg-type]
        .where(Room.platform == platform, Room.room_id == room_id)  # type: ignore[arg-type]
    ).first()
    return (row[0], row[1]) if row else None


def winding_down(room: Room) -> bool:
    """The room is being emptied and archived (or is): nothing more is posted or invited into it."""
    return room.state in (RoomState.CLOSING, RoomState.CLOSED)


def set_state(s: Session, room: Room, new: RoomState, at: datetime, reason: str = "") -> bool:
    """Move the room to ``new``; False (and nothing written) if it is there already."""
    current = RoomState(room.state)
    if current == new:
        return False
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"room of case {room.case_id}: {current} -> {new} is not allowed")
    room.state = new
    room.state_changed_at = at
    room.error = (reason or None) if new == RoomState.FAILED else None
    s.add(room)
    text = f"Room {new}" + (f": {reason}" if reason else "")
    timeline.record(s, room.case_id, timeline.Kind.STATE, text, at=at, data={"from": current, "to": new})
    return True


def step_done(room: Room, step: str) -> bool:
    return step in room.steps


def mark_step(s: Session, room: Room, step: str, at: datetime) -> None:
    # An opening's steps finish in parallel threads: re-read the row under a lock (PostgreSQL; on SQLite the
    # transaction holds the write lock already) so one mark never overwrites another's.
    s.refresh(room, with_for_update=True)
    # Reassign (not mutate) so SQLAlchemy notices the JSON column changed.
    room.steps = {**room.steps, step: at.isoformat()}
    s.add(room)
