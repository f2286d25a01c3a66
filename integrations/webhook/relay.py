"""The room's activity as callback events: people invited, joined, left, removed or refused, and the closure.

The scheduler leader runs this every ``CASEROOM_CALLBACK_RELAY_SECONDS``. It reads the timeline lines of the
generic webhook's cases that no relay has claimed yet, queues an event for each that is news to the CRM (keyed by
the line, so its id is the same however often it is read) and claims the lines, all in one transaction. Claims, not
a watermark on ids, for the reason ``integrations.salesforce.digest`` gives.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlmodel import Session, col

from bot.events import WEBHOOK_CRM
from bot.models import Case, CaseFile, DigestedEvent, Participant, StoredFile, TimelineEvent
from bot.services import Services
from bot.sqlutil import insert_many_ignore
from bot.timeline import Kind
from integrations.webhook import events
from integrations.webhook.port import STORED

RELAY_KIND = "callback.relay"
KINDS = (Kind.INVITE, Kind.JOIN, Kind.LEAVE, Kind.REMOVE, Kind.ERROR, Kind.STATE)
BATCH = 2000
HORIZON = timedelta(hours=48)  # as the digest's: far longer than any delay between a room event and its line
PEOPLE = {Kind.INVITE: "participant.invited", Kind.JOIN: "participant.joined", Kind.LEAVE: "participant.left",
          Kind.REMOVE: "participant.removed"}  # fmt: skip


def run(sv: Services, *, legacy: bool = False) -> int:
    """Queue the events due; how many. ``legacy``: also the cases recorded before cases named their CRM."""
    claimed = exists().where(col(DigestedEvent.event_id) == col(TimelineEvent.id))
    ours = [WEBHOOK_CRM, ""] if legacy else [WEBHOOK_CRM]
    now = sv.clock()
    with sv.db.session() as s:
        q = (
            select(TimelineEvent, col(Case.crm_id), col(Case.number))
            .join(Case, col(Case.id) == col(TimelineEvent.case_id))
            .where(col(TimelineEvent.at) >= now - HORIZON, col(TimelineEvent.kind).in_([str(k) for k in KINDS]),
                   ~claimed, col(Case.crm).in_(ours))
            .order_by(col(TimelineEvent.at), col(TimelineEvent.id))
            .limit(BATCH)
        )  # fmt: skip
        rows = s.execute(q).all()
        names = _names(s, {line.case_id for line, _, _ in rows})
        jobs = []
        for line, crm_id, number in rows:
            made = _event(s, line, crm_id, number, names)
            if made is not None:
                assert line.id is not None
                jobs.append(events.job(line.case_id, *made))
        events.enqueue(s, sv, jobs)
        insert_many_ignore(s, DigestedEvent, [{"event_id": line.id, "posted_at": now} for line, _, _ in rows])
        s.commit()
    return len(jobs)


def _names(s: Session, case_ids: set[int]) -> dict[tuple[int, str], str]:
    """The names the cases' participants go by, by (case, e-mail): lines that name someone by e-mail only."""
    if not case_ids:
        return {}
    q = select(col(Participant.case_id), col(Participant.email), col(Participant.name)).where(
        col(Participant.case_id).in_(case_ids), col(Participant.name) != "")
    return {(case_id, email.lower()): name for case_id, email, name in s.execute(q).all()}


def _event(s: Session, line: TimelineEvent, crm_id: str, number: str,
           names: dict[tuple[int, str], str]) -> tuple[dict[str, Any], dict[str, Any]] | None:  # fmt: skip
    """The line's event and the files it carries, or None when the line is no news to the CRM."""
    kind, data = Kind(line.kind), line.data or {}
    event_id = f"evt_line_{line.id}"
    email = data.get("email") or line.actor_email
    person = {"email": email, "name": names.get((line.case_id, (email or "").lower())) or line.actor_name}
    if kind in PEOPLE:
        extra = {"role": data["role"], "outcome": data.get("outcome")} if kind == Kind.INVITE else {}
        body = {"person": person, "text": line.text, **extra}
        return events.envelope(event_id, PEOPLE[kind], crm_id, number, line.at, body), {}
    if kind == Kind.ERROR and data.get("email") and "job" not in data:  # an invitation the platform refused
        body = {"person": person, "reason": line.text}
        return events.envelope(event_id, "participant.refused", crm_id, number, line.at, body), {}
    if kind == Kind.STATE and data.get("to") == "closed":
        return events.envelope(event_id, "room.closed", crm_id, number, line.at, {}), _closure_files(s, line.case_id)
    return None


def _closure_files(s: Session, case_id: int) -> dict[str, Any]:
    """The case's kept files at closure: the uploads it filed, and the rest (the transcript's HTML and JSON)."""
    stored = s.execute(select(col(StoredFile.id)).where(col(StoredFile.case_id) == case_id)
                       .order_by(col(StoredFile.id))).scalars().all()  # fmt: skip
    refs = s.execute(select(col(CaseFile.crm_ref)).where(col(CaseFile.case_id) == case_id)).scalars().all()
    uploads = {int(r.removeprefix(STORED)) for r in refs if r and r.startswith(STORED)}
    return {"files": [i for i in stored if i in uploads], "transcript": [i for i in stored if i not in uploads]}


def purge(sv: Services, keep_days: int) -> int:
    """Drop the files of cases closed more than ``keep_days`` ago (an open case keeps its own, whatever their age:
    its closing event links them all); how many. Their links answer 410 from then on."""
    cutoff = sv.clock() - timedelta(days=keep_days)
    with sv.db.session() as s:
        closed_long_ago = (col(Case.is_closed), col(Case.closed_at) < cutoff)
        old = (select(col(StoredFile.id)).join(Case, col(Case.id) == col(StoredFile.case_id))
               .where(col(StoredFile.stored_at) < cutoff, *closed_long_ago))  # fmt: skip
        ids = list(s.execute(old.limit(BATCH)).scalars().all())
        if ids:
            s.execute(StoredFile.__table__.delete().where(col(StoredFile.id).in_(ids)))  # type: ignore[attr-defined]
        s.commit()
    return len(ids)
