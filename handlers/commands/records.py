"""`/case files`, `/case note` and `/case timeline`: what the room holds, and notes onto the CRM case."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from bot import copy, filing, timeline
from bot.commands import INTERNAL_KINDS, Invocation, Registry, Reply, UsageError, may_read
from bot.membership import display_name, participant_for
from bot.models import CaseFile, Role

family = Registry()  # this module's commands; the runtime merges the families (handlers.commands)


@family.command("files", usage="/case files", summary="the files shared in this room", who="members", max_args=0,
                fast=True)  # fmt: skip
def files(inv: Invocation) -> Reply:
    assert inv.case.id is not None
    with inv.sv.db.session() as s:
        q = select(CaseFile).where(CaseFile.case_id == inv.case.id).order_by(CaseFile.uploaded_at)  # type: ignore[arg-type]
        rows = list(s.execute(q).scalars().all())
    if not rows:
        return Reply("No files have been shared in this room yet.")
    lines = [f"Files in case {inv.case.number} ({len(rows)}):"]
    for f in rows:
        filed = f"filed on the case as {f.crm_ref}" if f.crm_ref else "not filed on the case yet"
        lines.append(f"  {f.name} ({copy.human_size(f.size)}) by {f.uploaded_by or 'someone'}, "
                     f"{_when(f.uploaded_at, None)}; {filed}")  # fmt: skip
    return Reply("\n".join(lines))


@family.command(
    "note",
    usage="/case note <text>",
    summary="add an internal note to the CRM case",
    who="engineer",
    details="The note goes onto the CRM case as an internal comment (a long one as numbered parts, each within "
    "the CRM's comment limit) and onto the case's timeline, where only engineers read it. Nobody else sees a "
    "Slack /case command; a message in the room (any Webex message, an @mention) is seen by everyone in it.",
    min_args=1,
)
def note(inv: Invocation) -> Reply:
    text = inv.raw_args.strip()
    sv, case = inv.sv, inv.case
    assert case.id is not None and inv.key, "a note is filed once per request: it needs the request's key"
    crm = sv.crm_of(case)
    if crm is None:
        return Reply("This case's CRM takes no notes from CaseRoom here, so the note cannot be filed.")
    actor, at = inv.request.actor, sv.clock()  # the note's time is when it was given, not when the CRM took it
    with sv.db.session() as s:
        who = display_name(s, case.id, actor) or "an engineer"
    # Whatever length the platform delivered: the CRM gets it as numbered parts, each filed once (a retried
    # request skips the parts already filed), and the timeline keeps the whole note once.
    parts = filing.comment(sv, crm, case.id, case.crm_id, f"note:{inv.key}", f"Note from {who} (CaseRoom): {text}")
    with sv.db.session() as s:
        timeline.record(s, case.id, timeline.Kind.NOTE, text, at=at, actor_email=actor.email or None,
                        actor_name=who, source_key=f"note:{inv.key}")  # fmt: skip
        s.commit()
    split = f" as {parts} comments" if parts > 1 else ""
    return Reply(f"Note added to case {case.number} in the CRM{split}.")


@family.command(
    "timeline",
    usage="/case timeline [n]",
    summary="the last n events of this case (default 10)",
    who="members",
    details="Dates are UTC, with your local time too when your time zone is known. Internal notes and the "
    "engineers' own commands are shown to engineers only.",
    max_args=1,
    fast=True,
)
def show_timeline(inv: Invocation) -> Reply:
    try:
        n = int(inv.args[0]) if inv.args else 10
    except ValueError:
        raise UsageError(f"'{inv.args[0]}' is not a number.") from None
    if not 1 <= n <= 50:
        raise UsageError("Ask for between 1 and 50 events.")
    assert inv.case.id is not None
    with inv.sv.db.session() as s:
        hidden = () if inv.role == Role.ENGINEER else INTERNAL_KINDS
        events = timeline.latest(s, inv.case.id, n, without=hidden, keep=lambda e: may_read(inv.role, e))
        p = participant_for(s, inv.case.id, inv.request.actor)
        tz = p.timezone if p else None
    lines = [f"Last {len(events)} events of case {inv.case.number}:"]
    for e in events:
        who = f"{e.actor_name or e.actor_email}: " if (e.actor_name or e.actor_email) else ""
        lines.append(f"  {_when(e.at, tz)} [{e.kind}] {who}{' '.join(e.text.split())[:200]}")
    return Reply("\n".join(lines))


def _when(at: datetime, tz: str | None) -> str:
    utc = at.strftime("%Y-%m-%d %H:%M UTC")
    if not tz:
        return utc
    try:
        local = at.astimezone(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return utc
    return f"{utc} ({local.strftime('%H:%M')} {tz})"
