"""Hand a case from one engineer to another: bring the new one into the room, with the context to act.

One handoff is one ``source_key`` on the timeline. The card is posted before it is recorded (a crash in
between repeats the card rather than losing it); the CRM comment and the optional removal of the previous
engineer are flagged on that timeline entry, so a retry finishes the handoff without posting it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from bot import bot_posts, cases, copy, filing, timeline
from bot.commands import may_read
from bot.membership import ensure_member, participant, participants
from bot.models import Case, ParticipantStatus, Role, RoomState, TimelineEvent
from bot.services import Services
from integrations.crm import Person
from integrations.messaging import Card

log = logging.getLogger(__name__)

EXCERPT = 160
SHOWN = 3  # unanswered messages and files listed on a card; the rest are counted
# A card reads the room's last messages and uploads, not its whole history: open questions are those since the
# engineers' last reply among them, files those since the last handoff (or so far) among them.
CARD_WINDOW = 200


@dataclass(frozen=True)
class Handoff:
    crm_id: str
    to: Person
    key: str  # timeline source key: one card per key, whatever the retries
    reason: str
    previous: Person | None = None  # None: whoever holds the case now
    taken: bool = False  # taken from a CRM queue: nobody hands it over, so there is no previous engineer


def ensure_handoff(sv: Services, h: Handoff) -> str:
    """Run the handoff once; returns what happened, in words for logs and command replies."""
    with sv.db.session() as s:
        case = cases.get_case(s, h.crm_id)
        room = cases.room_of(s, case.id) if case and case.id is not None else None
        if case is None or case.id is None or room is None or not room.room_id or room.state != RoomState.OPEN:
            return "no open room"
        case_id, platform, room_id = case.id, room.platform, room.room_id
        done = timeline.keyed(s, case_id, h.key)
        if done is None:
            previous = None if h.taken else h.previous or holder(s, case)
            p = participant(s, case_id, h.to.email)
            again = p is not None and p.status in (ParticipantStatus.LEFT, ParticipantStatus.REMOVED)
            same = previous is not None and previous.email.lower() == h.to.email.lower()
            card = None if same else _card(s, sv, case, previous, h)
    if done is not None:
        assert done.id is not None
        _finish(sv, case_id, h.crm_id, platform, room_id, done.id, str(done.data.get("from") or ""))
        return "done before"

    # Someone who handled the case and left (or was removed) is brought back: they are on duty now.
    ensure_member(sv, case_id=case_id, crm_id=h.crm_id, platform=platform, room_id=room_id,
                  person=h.to, role=Role.ENGINEER, again=again)  # fmt: skip
    if card is None:
        return "already holds the case"
    posted = sv.messenger(platform).post_card(room_id, card)
    with sv.db.session() as s:
        data = {"from": previous.email.lower() if previous else None, "from_name": previous.name if previous else None,
                "to": h.to.email.lower(), "to_name": h.to.name, "to_timezone": h.to.timezone, "reason": h.reason,
                "card": card.as_text(), "previous_removed": False}  # fmt: skip
        timeline.record(s, case_id, timeline.Kind.HANDOFF, card.title, at=sv.clock(), data=data, source_key=h.key)
        bot_posts.posted(s, case_id, posted)
        s.commit()
        entry = timeline.keyed(s, case_id, h.key)
        assert entry is not None and entry.id is not None
    _finish(sv, case_id, h.crm_id, platform, room_id, entry.id, str(data["from"] or ""))
    log.info("handed to %s from %s: %s", h.to.email, previous.email if previous else "the queue", h.reason)
    return "handed over"


def holder(s: Session, case: Case) -> Person | None:
    """Who has the case now: the receiver of the last handoff, else the CRM's engineer."""
    assert case.id is not None
    last = _last_handoff(s, case.id)
    if last is not None and last.data.get("to"):
        d = last.data
        return Person(str(d["to"]), str(d.get("to_name") or ""), d.get("to_timezone") or _tz_of(s, case, d["to"]))
    if case.engineer_email:
        return Person(case.engineer_email, case.engineer_name or "", case.engineer_timezone)
    return None


# -- the card --------------------------------------------------------------------------------------
def _card(s: Session, sv: Services, case: Case, previous: Person | None, h: Handoff) -> Card:
    assert case.id is not None
    now = sv.clock()
    last = _last_handoff(s, case.id)
    since = last.at if last is not None else None
    # The card is posted in the room: only what everyone in it may read (Role.MEMBER is the least trusted).
    events = timeline.latest(s, case.id, CARD_WINDOW, kinds={timeline.Kind.MESSAGE, timeline.Kind.FILE},
                             keep=lambda e: may_read(Role.MEMBER, e))  # fmt: skip
    engineers = {p.email for p in participants(s, case.id) if p.role == Role.ENGINEER}
    engineers |= {h.to.email.lower(), *([previous.email.lower()] if previous else [])}
    customer_domain = (case.customer_email or "").rpartition("@")[2]
    customer_domains = {customer_domain, *sv.settings.partner_domains} - {""}

    def from_customer(e: TimelineEvent) -> bool:
        email = (e.actor_email or "").lower()
        return email not in engineers and email.rpartition("@")[2] in customer_domains

    messages = [e for e in events if e.kind == timeline.Kind.MESSAGE and e.text.strip()]
    replied = max((i for i, e in enumerate(messages) if (e.actor_email or "").lower() in engineers), default=-1)
    open_questions = [e for e in messages[replied + 1 :] if from_customer(e)]
    last_customer = next((e for e in reversed(messages) if from_customer(e)), None)
    # An upload can be both a file event and a message carrying it (platforms differ): list each name once.
    files = list(dict.fromkeys(n for e in events if since is None or e.at > since for n in e.data.get("files") or []))

    rows = []
    if previous:
        rows.append(("From", copy.engineer_at(previous.name, previous.email, _local(now, previous.timezone))))
    rows += [
        ("To", copy.engineer_at(h.to.name, h.to.email, _local(now, h.to.timezone or _tz_of(s, case, h.to.email)))),
        ("Why", h.reason),
        ("Open questions", _listing([_said(e) for e in open_questions], copy.NO_OPEN_QUESTIONS)),
        ("Last customer message", _said(last_customer) if last_customer else copy.NOTHING_YET),
        ("Files since the last handoff" if since else "Files so far", _listing(files, copy.NO_FILES)),
    ]
    previous_name = (previous.name or previous.email) if previous else None
    return copy.handoff_card(case.number, previous=previous_name, new=h.to.name or h.to.email, rows=rows,
                             taken=h.taken)  # fmt: skip


def _said(e: TimelineEvent) -> str:
    text = " ".join(e.text.split())
    text = text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
    return f'{e.actor_name or e.actor_email or "someone"} at {e.at.strftime("%Y-%m-%d %H:%M UTC")}: "{text}"'


def _listing(items: list[str], empty: str) -> str:
    if not items:
        return empty
    shown = "; ".join(items[-SHOWN:])
    return shown if len(items) <= SHOWN else f"{shown} (and {len(items) - SHOWN} earlier)"


def _local(at: datetime, tz: str | None) -> str:
    """``16:00 Tue 17 Nov (Asia/Tokyo)``; UTC when the person's zone is unknown or not a zone."""
    try:
        zone = ZoneInfo(tz) if tz else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    local = at.astimezone(zone) if zone else at
    return f"{local.strftime('%H:%M %a %d %b')} ({zone.key if zone else 'UTC'})"


def _tz_of(s: Session, case: Case, email: str) -> str | None:
    assert case.id is not None
    p = participant(s, case.id, email)
    if p and p.timezone:
        return p.timezone
    return case.engineer_timezone if (case.engineer_email or "").lower() == email.lower() else None


# -- recording -------------------------------------------------------------------------------------
def _last_handoff(s: Session, case_id: int) -> TimelineEvent | None:
    found = timeline.latest(s, case_id, 1, kinds={timeline.Kind.HANDOFF})
    return found[0] if found else None


def _finish(sv: Services, case_id: int, crm_id: str, platform: str, room_id: str, event_id: int,
            previous: str) -> None:  # fmt: skip
    """The steps after the card, each flagged on the handoff's timeline entry so it happens once."""
    with sv.db.session() as s:
        entry = s.get(TimelineEvent, event_id)
        assert entry is not None
        data: dict[str, Any] = dict(entry.data)
    if crm := sv.crm_for(crm_id):
        filing.comment(sv, crm, case_id, crm_id, f"handoff:{event_id}", f"CaseRoom: {data.get('card') or entry.text}")
    if not sv.settings.keep_previous_engineer and previous and not data.get("previous_removed"):
        _remove_previous(sv, case_id, platform, room_id, previous)
        _flag(sv, event_id, "previous_removed")


def _flag(sv: Services, event_id: int, name: str) -> None:
    with sv.db.session() as s:
        entry = s.get(TimelineEvent, event_id)
        assert entry is not None
        entry.data = {**entry.data, name: True}  # reassigned so the JSON column is written
        s.add(entry)
        s.commit()


def _remove_previous(sv: Services, case_id: int, platform: str, room_id: str, email: str) -> None:
    """``CASEROOM_KEEP_PREVIOUS_ENGINEER=false``: the engineer handing over leaves the room."""
    messenger = sv.messenger(platform)
    for m in messenger.list_members(room_id):
        if m.email.lower() == email.lower() and not m.is_bot:
            messenger.remove_member(room_id, m.member_id)
    with sv.db.session() as s:
        p = participant(s, case_id, email)
        if p:
            p.status, p.updated_at = ParticipantStatus.REMOVED, sv.clock()
            s.add(p)
        timeline.record(s, case_id, timeline.Kind.REMOVE, f"{email} handed the case over and left the room",
                        at=sv.clock(), data={"email": email, "handoff": True})  # fmt: skip
        s.commit()
