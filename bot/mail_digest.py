"""The room, out to the people in it by e-mail: a digest in their thread, and a last mail when the case closes.

A sweep (the ``mail.digest`` job the scheduler leader enqueues) looks at each active e-mail member's unsent timeline
entries and mails them once the oldest has waited ``digest_seconds``, or after only ``prompt_seconds`` when an
engineer has written: an engineer's answer is what a customer waits for. Each entry is claimed for the person
(``mail_digest_lines``) in the transaction that enqueues their mail, so it reaches them once, however many sweeps or
replicas meet it; a claim that another transaction made first leaves the entry out of this mail.

What goes is what the person would see in the room, judged as every other reader is (:func:`bot.commands.may_read`):
messages, the bot's public words, joins, leaves, removals, uploads and handoffs. Not command echoes (their answers
were private), not their own words, and internal notes only to support staff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import exists, select
from sqlmodel import Session, col

from bot import cases, mail_copy, mail_files, mail_members, membership, timeline
from bot.models import Case, MailDigestLine, MailMember, MailState, Participant, ParticipantStatus, Role, TimelineEvent
from bot.services import Services
from bot.sqlutil import insert_many_ignore

log = logging.getLogger(__name__)

SWEEP_KIND = "mail.digest"
MAX_LINES = 200  # entries per digest: a long backlog goes out over the next sweeps, oldest first
K = timeline.Kind
SHOWN = frozenset({K.MESSAGE, K.BOT, K.JOIN, K.LEAVE, K.REMOVE, K.FILE, K.HANDOFF, K.INVITE, K.NOTE})


@dataclass(frozen=True)
class Timing:
    digest_seconds: float  # the longest an entry waits before it is mailed
    prompt_seconds: float  # the longest an engineer's message waits


def sweep(sv: Services, timing: Timing) -> int:
    """Mail each active e-mail member of an open room what is due for them; how many mails were enqueued."""
    return sum(_mail_due(sv, member_id, timing) for member_id in _active(sv, col(Case.is_closed).is_(False)))


def end(sv: Services, case_id: int) -> None:
    """Closure: each active e-mail member gets what they have not had yet and the closing words, and their membership
    ends (a reply after this gets a polite answer). Run again after a crash, it mails nobody twice."""
    for member_id in _active(sv, col(Case.id) == case_id):
        _end_one(sv, member_id)


def _active(sv: Services, *where: Any) -> list[int]:
    """The ids of the active e-mail members of the cases ``where`` picks."""
    q = select(col(MailMember.id)).join(Case, col(Case.id) == MailMember.case_id)
    q = q.where(col(MailMember.state) == MailState.ACTIVE, *where).order_by(col(MailMember.id))
    with sv.db.session() as s:
        return [int(i) for i in s.execute(q).scalars().all()]


def _mail_due(sv: Services, member_id: int, timing: Timing) -> int:
    now = sv.clock()
    with sv.db.session() as s:
        m = s.get(MailMember, member_id)
        room = cases.room_of(s, m.case_id) if m is not None else None
        if m is None or m.state != MailState.ACTIVE or room is None or room.room_id is None or cases.winding_down(room):
            return 0
        people = {p.email: p for p in membership.participants(s, m.case_id)}
        pending, role = _unsent(s, m, MAX_LINES), mail_members.role_in(people, m.email)
        shown = [e for e in pending if mail_members.sees(e, m, role)]
        if shown and not _due(shown, people, now, timing):
            pending = [e for e in pending if e not in shown]  # settle only what they will never see; the rest waits
        lines = _claim(s, m, pending, shown)
        if lines:
            _enqueue_digest(sv, s, m, lines, people, closing=False)
        s.commit()
        return 1 if lines else 0


def _end_one(sv: Services, member_id: int) -> None:
    with sv.db.session() as s:
        m = s.get(MailMember, member_id)
        if m is None or m.state != MailState.ACTIVE:
            return
        people = {p.email: p for p in membership.participants(s, m.case_id)}
        pending, role = _unsent(s, m, None), mail_members.role_in(people, m.email)
        lines = _claim(s, m, pending, [e for e in pending if mail_members.sees(e, m, role)])
        if sv.mailer is not None:
            _enqueue_digest(sv, s, m, lines, people, closing=True)
        else:
            log.warning("no mailer configured: %s gets no closing mail", m.email)
        now, name = sv.clock(), m.name or m.email
        m.state, m.reason, m.updated_at = MailState.ENDED, "case closed", now
        s.add(m)
        mail_members.set_participant(s, m.case_id, m.email, ParticipantStatus.REMOVED, "case closed")
        timeline.record(s, m.case_id, K.REMOVE, mail_copy.ended_by_closure(name), at=now,
                        data={"email": m.email, "via": "email"}, source_key=f"close-remove-mail:{m.id}")  # fmt: skip
        s.commit()


def _unsent(s: Session, m: MailMember, limit: int | None) -> list[TimelineEvent]:
    claimed = exists().where(col(MailDigestLine.member_id) == m.id, col(MailDigestLine.event_id) == TimelineEvent.id)
    q = select(TimelineEvent).where(col(TimelineEvent.case_id) == m.case_id, col(TimelineEvent.at) >= m.invited_at,
                                    col(TimelineEvent.kind).in_([str(k) for k in SHOWN]), ~claimed)  # fmt: skip
    q = q.order_by(col(TimelineEvent.at), col(TimelineEvent.id))
    return list(s.execute(q if limit is None else q.limit(limit)).scalars().all())


def _due(shown: list[TimelineEvent], people: dict[str, Participant], now: datetime, timing: Timing) -> bool:
    if now - shown[0].at >= timedelta(seconds=timing.digest_seconds):
        return True
    prompt = timedelta(seconds=timing.prompt_seconds)
    engineer = Role.ENGINEER
    return any(e.kind == K.MESSAGE and mail_members.role_in(people, e.actor_email) == engineer and now - e.at >= prompt
               for e in shown)  # fmt: skip


def _claim(s: Session, m: MailMember, pending: list[TimelineEvent], shown: list[TimelineEvent]) -> list[TimelineEvent]:
    """Claim ``pending`` for ``m``; the entries of ``shown`` this transaction claimed (not another one first)."""
    rows = [{"member_id": m.id, "event_id": e.id} for e in pending]
    mine = {event_id for (event_id,) in insert_many_ignore(s, MailDigestLine, rows, returning=("event_id",))}
    return [e for e in shown if e.id in mine]


def _enqueue_digest(sv: Services, s: Session, m: MailMember, lines: list[TimelineEvent],
                    people: dict[str, Participant], *, closing: bool) -> None:  # fmt: skip
    case = s.get(Case, m.case_id)
    assert case is not None and sv.mailer is not None and m.id is not None
    zone = _zone(people.get(m.email))
    # No links in the closing mail: the membership, and with it every link, ends as it is sent.
    files = {e.id: [] if closing else mail_files.links(sv, s, m, e) for e in lines}
    rendered = [mail_copy.digest_line(e.kind, e.actor_name or "", e.text, e.at.astimezone(zone), files[e.id])
                for e in lines]  # fmt: skip
    url = sv.stable_url(case.number)
    text = (mail_copy.closing(case.number, rendered, url) if closing
            else mail_copy.digest(case.number, rendered, url, with_links=any(files.values())))  # fmt: skip
    first = lines[0].id if lines else "end"
    message_id = sv.mailer.thread_id(case.number, f"{m.id}.{'c' if closing else 'd'}{first}")
    mail_members.enqueue(sv, s, m.case_id, m, mail_members.compose(sv, case, m, text, message_id=message_id))


def _zone(p: Participant | None) -> ZoneInfo:
    """Times in a person's mail are in their own time zone when the CRM gave one, else UTC."""
    try:
        return ZoneInfo(p.timezone) if p is not None and p.timezone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
