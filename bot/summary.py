"""`/case summary`: a newcomer's brief that fits on one screen (at most 40 lines).

Facts, people and their roles, the highlights of the timeline (state changes, handoffs, notes, problems),
the files, and the last exchanges. Each part has a budget; whatever does not fit says how much more
there is and where to find it, so the brief never grows with the case.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from bot import copy, timeline
from bot.commands import INTERNAL_KINDS, may_read
from bot.membership import participants
from bot.models import Case, CaseFile, Role, TimelineEvent

MAX_LINES = 40
HIGHLIGHT_KINDS = ("state", "handoff", "note", "error", "case")
LAST_HIGHLIGHTS = 7
LAST_MESSAGES = 6
MAX_FILES = 4
MAX_PEOPLE = 6
WIDTH = 160


def _one_line(text: str, width: int = WIDTH) -> str:
    indent = text[: len(text) - len(text.lstrip(" "))]
    flat = indent + " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _age(seconds: float) -> str:
    hours = int(seconds // 3600)
    if hours < 1:
        return f"{int(seconds // 60)} min"
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def brief(s: Session, case: Case, *, now: datetime, reader: Role | None, transcript_url: str | None = None) -> str:
    """The brief as ``reader`` may see it: internal notes and engineers' commands only for engineers."""
    assert case.id is not None
    cid = case.id
    opened = _age(max(0.0, (now - case.created_at).total_seconds()))
    age = f"closed {_when(case.closed_at)}" if case.closed_at else f"open for {opened}"
    lines = [
        _one_line(f"Case {case.number}: {case.subject or '(no subject)'}"),
        f"Status {case.status or '-'} · priority {case.priority or '-'} · {age}",
    ]
    if case.description.strip():
        lines.append(_one_line(f"Problem: {case.description}", 2 * WIDTH))

    people = participants(s, cid)
    order = {Role.ENGINEER.value: 0, Role.CUSTOMER.value: 1}
    people.sort(key=lambda p: (order.get(p.role, 2), p.id or 0))
    lines.append(f"People ({len(people)}):")
    for p in people[:MAX_PEOPLE]:
        lines.append(_one_line(f"  {p.name or p.email} <{p.email}>: {p.role}, {p.status}"))
    if len(people) > MAX_PEOPLE:
        lines.append(f"  … and {len(people) - MAX_PEOPLE} more (/case status)")

    kinds = tuple(k for k in HIGHLIGHT_KINDS if reader == Role.ENGINEER or k not in INTERNAL_KINDS)
    highlights = [e for e in timeline.latest(s, cid, LAST_HIGHLIGHTS, kinds=kinds) if may_read(reader, e)]
    lines.append("Highlights:" if highlights else "Highlights: none yet")
    lines += [_one_line(f"  {_when(e.at)} [{e.kind}] {e.text}") for e in highlights]

    files = list(
        s.execute(
            select(CaseFile).where(CaseFile.case_id == cid).order_by(CaseFile.uploaded_at.desc()).limit(MAX_FILES)  # type: ignore[arg-type,attr-defined]
        ).scalars()
    )
    n_files = s.execute(select(func.count()).where(CaseFile.case_id == cid)).scalar_one()  # type: ignore[arg-type]
    lines.append(f"Files ({n_files}):" if n_files else "Files: none")
    for f in files:
        filed = "" if f.crm_ref else ", not filed yet"
        lines.append(_one_line(f"  {f.name} ({copy.human_size(f.size)}) by {f.uploaded_by or 'someone'}{filed}"))
    if n_files > MAX_FILES:
        lines.append(f"  … and {n_files - MAX_FILES} more (/case files)")

    messages = _last_exchanges(s, cid)
    total = s.execute(
        select(func.count()).where(TimelineEvent.case_id == cid, TimelineEvent.kind == "message")  # type: ignore[arg-type]
    ).scalar_one()
    lines.append(f"Last exchanges ({len(messages)} of {total} messages):" if messages else "No messages yet.")
    for e, said in messages:
        lines.append(_one_line(f"  {e.at:%m-%d %H:%M} {e.actor_name or e.actor_email or 'someone'}: {said}"))

    lines.append(f"Full transcript: {transcript_url}" if transcript_url else "More: /case timeline 50")
    return "\n".join(lines[:MAX_LINES])


def _last_exchanges(s: Session, case_id: int) -> list[tuple[TimelineEvent, str]]:
    """The last messages as they now read: deleted ones left out, edited ones in their last wording."""
    recent = timeline.latest(s, case_id, LAST_MESSAGES * 3, kinds=("message",))
    changes = timeline.latest(s, case_id, 200, kinds=("message_edited", "message_deleted"))  # recent ones suffice
    now_reads: dict[str, str | None] = {}
    for c in changes:
        mid = c.data.get("message_id")
        if mid:
            now_reads[mid] = None if c.kind == "message_deleted" else f"{c.text} (edited)"
    out = []
    for e in recent:
        mid = e.data.get("message_id")
        said = now_reads.get(mid, e.text) if mid else e.text
        if said is not None and not e.data.get("deleted"):
            out.append((e, said))
    return out[-LAST_MESSAGES:]

