"""Transcript -> Markdown, for pasting into a knowledge base or a ticket. Written entry by entry.

Person-written text is escaped so that it cannot open links, images, HTML or headings in the reader.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import datetime

from bot.copy import human_size
from bot.transcript.model import Entry, Transcript

_SPECIAL = re.compile(r"([\\`*_{}\[\]#!|~])")
_BULLET = re.compile(r"(?m)^(\s*)([-+])")  # would start a list item
_NUMBERED = re.compile(r"(?m)^(\s*)(\d+)\.")


def md(value: object) -> str:
    escaped = _SPECIAL.sub(r"\\\1", html.escape(str(value), quote=False))
    escaped = _BULLET.sub(r"\1\\\2", escaped.replace("\r", ""))
    escaped = _NUMBERED.sub(r"\1\2\\.", escaped)
    return escaped.replace("\n", "  \n    ")


def _utc(at: datetime, *, with_date: bool = False) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC" if with_date else "%H:%M:%S UTC")


def render(doc: Transcript, progress: Callable[[int], None] | None = None) -> Iterator[str]:
    f = doc.facts
    yield f"# Case {md(f.number)}: {md(f.subject)}\n\n"
    facts = [
        ("CRM id", f.crm_id),
        ("Status", f.status or "-"),
        ("Priority", f.priority or "-"),
        ("Platform", f.platform or "-"),
        ("Customer", f.customer or "-"),
        ("Engineer", f.engineer or "-"),
        ("Opened", _utc(f.opened_at, with_date=True)),
        ("Closed", _utc(f.closed_at, with_date=True) if f.closed_at else "still open"),
    ]
    yield "".join(f"- **{name}:** {md(value)}\n" for name, value in facts)
    if f.description:
        yield f"\n> {md(f.description)}\n"
    for limit in doc.limitations:
        yield f"\n**What CaseRoom could not see:** {md(limit)}\n"
    yield "\n## Participants\n\n"
    for p in doc.participants:
        yield f"- {md(p.name or p.email)} ({md(p.email)}), {md(p.role)}, {md(p.status)}\n"
    yield "\n## Files\n\n"
    for f_ in doc.files:
        filed = f"CRM copy {md(f_.crm_ref)}" if f_.crm_ref else "not filed"
        yield f"- {md(f_.name)} ({human_size(f_.size)}) by {md(f_.uploaded_by or '-')}, {filed}\n"
    yield "\n## Timeline\n"
    for x in doc.entries(progress):
        if x.new_day:
            yield f"\n### {x.at:%A %d %B %Y}\n\n"
        yield _entry(x)


def _entry(x: Entry) -> str:
    indent = "  " * x.depth
    who = f" **{md(x.who)}**" if x.who else ""
    mark = {"message_edited": " _edited:_", "message_deleted": " _deleted:_", "note": " _note:_"}.get(x.kind, "")
    text = md(x.text or ("(message deleted)" if x.deleted else ""))
    if x.kind == "message" and x.deleted:
        text = f"~~{text}~~ _(deleted)_"
    extra = f" _(edited {_utc(x.edited_at, with_date=True)})_" if x.edited_at else ""
    files = f" 📎 {md(', '.join(x.files))}" if x.files and x.kind != "file" else ""
    return f"{indent}- `{_utc(x.at, with_date=x.show_date)}`{who}{mark} {text}{extra}{files}\n"
