"""Timeline -> transcript (JSON, HTML, Markdown). Dates on every day boundary, times in UTC."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot import timeline
from bot.membership import participants
from bot.models import Case, CaseFile
from integrations.messaging import Visibility

SCHEMA_VERSION = "1.0"


@dataclass
class Transcript:
    case: dict[str, Any]
    participants: list[dict[str, Any]]
    files: list[dict[str, Any]]
    events: list[dict[str, Any]]
    limitations: list[str] = field(default_factory=list)


def build(s: Session, case_id: int, *, visibility: Visibility | None = None) -> Transcript:
    case = s.get(Case, case_id)
    assert case is not None
    files = s.execute(select(CaseFile).where(CaseFile.case_id == case_id).order_by(CaseFile.uploaded_at)).scalars()  # type: ignore[arg-type]
    limits = [visibility.limitation] if visibility and not visibility.sees_all_messages else []
    return Transcript(
        case={
            "number": case.number,
            "crm_id": case.crm_id,
            "subject": case.subject,
            "status": case.status,
            "priority": case.priority,
            "platform": case.platform,
            "opened_at": case.created_at.isoformat(),
            "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        },
        participants=[
            {"email": p.email, "name": p.name, "role": p.role, "status": p.status} for p in participants(s, case_id)
        ],
        files=[
            {
                "name": f.name,
                "size": f.size,
                "mime": f.mime,
                "uploaded_by": f.uploaded_by,
                "uploaded_at": f.uploaded_at.isoformat(),
                "crm_ref": f.crm_ref,
            }
            for f in files
        ],
        events=[
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "actor_email": e.actor_email,
                "actor_name": e.actor_name,
                "text": e.text,
                "parent_id": e.data.get("parent_id"),
                "message_id": e.data.get("message_id"),
            }
            for e in timeline.events(s, case_id)
        ],
        limitations=[x for x in limits if x],
    )


def to_json(t: Transcript) -> str:
    return json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "case": t.case,
            "participants": t.participants,
            "files": t.files,
            "events": t.events,
            "limitations": t.limitations,
        },
        ensure_ascii=False,
        indent=2,
    )


def _day(at: str) -> str:
    return datetime.fromisoformat(at).strftime("%A %d %B %Y (UTC)")


def _time(at: str) -> str:
    return datetime.fromisoformat(at).strftime("%H:%M:%S")


def to_html(t: Transcript) -> str:
    e = html.escape
    c = t.case
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Case {e(c['number'])} transcript</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem}"
        ".day{margin-top:1.5rem;border-bottom:1px solid #ccc}.ev{margin:.2rem 0}.meta{color:#555}"
        ".reply{margin-left:2rem}.system{color:#555;font-style:italic}</style></head><body>",
        f"<h1>Case {e(c['number'])}: {e(c['subject'])}</h1>",
        f"<p class='meta'>Status {e(c['status'] or '-')} · priority {e(c['priority'] or '-')} · "
        f"{e(c['platform'])} · opened {e(c['opened_at'])} · closed {e(c['closed_at'] or '-')}</p>",
    ]
    for limit in t.limitations:
        out.append(f"<p role='note'><strong>Not seen:</strong> {e(limit)}</p>")
    out.append("<h2>Participants</h2><ul>")
    out += [f"<li>{e(p['name'] or p['email'])} &lt;{e(p['email'])}&gt; — {e(p['role'])}</li>" for p in t.participants]
    out.append("</ul><h2>Files</h2><ul>")
    out += [f"<li>{e(f['name'])} ({f['size'] or '?'} bytes) by {e(f['uploaded_by'] or '?')}</li>" for f in t.files]
    out.append("</ul><h2>Timeline</h2>")
    day = ""
    for ev in t.events:
        if _day(ev["at"]) != day:
            day = _day(ev["at"])
            out.append(f"<h3 class='day'>{e(day)}</h3>")
        who = ev["actor_name"] or ev["actor_email"] or ""
        cls = "ev" if ev["kind"].startswith("message") else "ev system"
        if ev["parent_id"]:
            cls += " reply"
        mark = " (deleted)" if ev["kind"] == "message_deleted" else ""
        out.append(
            f"<p class='{cls}'><time datetime='{e(ev['at'])}'>{_time(ev['at'])}</time> "
            f"<b>{e(who)}</b> {e(ev['text'])}{mark}</p>"
        )
    out.append("</body></html>")
    return "\n".join(out)


def summary_comment(t: Transcript) -> str:
    messages = sum(1 for ev in t.events if ev["kind"] == "message")
    people = ", ".join(p["name"] or p["email"] for p in t.participants) or "nobody"
    files = ", ".join(f["name"] for f in t.files) or "none"
    text = (
        f"CaseRoom transcript for case {t.case['number']} filed: {messages} messages. "
        f"Participants: {people}. Files: {files}."
    )
    return text[:3900]
