"""Transcript -> one self-contained HTML page (inline CSS, no external asset), written piece by piece.

Every string that came from a person or a platform is hostile: it goes through ``html.escape`` and links
are only ever http(s). Times are UTC in the markup; a small inline script adds the viewer's own time.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable, Iterator
from datetime import datetime

from bot.copy import human_size
from bot.transcript.model import SAFE_SCHEMES, Entry, Transcript

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;max-width:62rem;margin:auto;padding:1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.6rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem}dl.facts dt{color:#555}
dl.facts dd{margin:0}table{border-collapse:collapse}
td,th{padding:.15rem .6rem;text-align:left;border-bottom:1px solid #eee}
.desc,.t{white-space:pre-wrap;overflow-wrap:anywhere}
.limit{background:#fff4d6;border-left:4px solid #e0a800;padding:.5rem}
h3.day{margin:1.4rem 0 .4rem;padding-bottom:.2rem;border-bottom:1px solid #ccc;font-size:1rem}
.e{margin:.25rem 0}.e>time{color:#666;font-size:.85em;font-variant-numeric:tabular-nums}
.local{color:#999;font-size:.8em}
.replies{margin-left:1.4rem;padding-left:.8rem;border-left:3px solid #dde}
.sys,.people,.handoff{color:#555;font-style:italic}.note{background:#eef6ff;padding:.2rem .4rem}
.deleted .t{text-decoration:line-through;color:#888}.deletion .t{color:#888}
.mark{font-size:.8em;color:#a33;margin-left:.3rem}
.files{font-size:.85em;color:#555}
""".strip()

# Adds " · <local time> (UTC±hh:mm)" after each UTC time; the UTC stays in the markup for print and search.
SCRIPT = """
(function(){function p(n){return(n<10?'0':'')+n}
document.querySelectorAll('time[data-utc]').forEach(function(t){var d=new Date(t.getAttribute('datetime'));
if(isNaN(d))return;var o=-d.getTimezoneOffset();if(o===0)return;var s=document.createElement('span');
s.className='local';s.textContent=' · '+d.toLocaleString([],{dateStyle:'short',timeStyle:'short'})+
' (UTC'+(o>0?'+':'-')+p(Math.floor(Math.abs(o)/60))+':'+p(Math.abs(o)%60)+')';t.after(s)});})();
""".strip()

# The page's only script, allowed by hash: with no other source permitted, nothing injected could run.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()}'"
)

LABELS = {
    "message_edited": "edited",
    "message_deleted": "deleted",
    "note": "note",
    "handoff": "handoff",
    "error": "problem",
}
CLASSES = {
    "message": "msg",
    "bot": "msg bot",
    "message_edited": "msg edit",
    "message_deleted": "msg deletion",
    "join": "people",
    "leave": "people",
    "invite": "people",
    "remove": "people",
    "handoff": "handoff",
    "note": "note",
    "file": "file",
}


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _utc(at: datetime, *, with_date: bool = False) -> str:
    shown = at.strftime("%Y-%m-%d %H:%M:%S UTC" if with_date else "%H:%M:%S UTC")
    return f"<time data-utc datetime='{e(at.isoformat())}'>{shown}</time>"


def _link(url: str | None, label: str) -> str:
    if url and url.startswith(SAFE_SCHEMES):
        return f"<a href='{e(url)}' rel='noopener noreferrer'>{e(label)}</a>"
    return e(label)


def render(doc: Transcript, progress: Callable[[int], None] | None = None) -> Iterator[str]:
    yield from _head(doc)
    in_replies = False
    for entry in doc.entries(progress):
        if entry.depth == 0 and in_replies:
            yield "</div>\n"
            in_replies = False
        if entry.new_day:
            yield f"<h3 class='day'><time datetime='{entry.at.date().isoformat()}'>{entry.at:%A %d %B %Y}</time></h3>\n"
        if entry.depth == 1 and not in_replies:
            yield "<div class='replies'>\n"
            in_replies = True
        yield _entry(entry)
    if in_replies:
        yield "</div>\n"
    yield f"</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"


def _head(doc: Transcript) -> Iterator[str]:
    f = doc.facts
    title = f"Case {f.number}" + (f": {f.subject}" if f.subject else "")
    yield (
        "<!doctype html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>\n"
        "<meta name='referrer' content='no-referrer'>\n"
        f"<title>{e(title)} — transcript</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<header>\n"
        f"<h1>{e(title)}</h1>\n<dl class='facts'>\n"
    )
    facts = [
        ("Case", _link(f.link, f"{f.number} (CRM {f.crm_id})")),
        ("Status", e(f.status or "-")),
        ("Priority", e(f.priority or "-")),
        ("Platform", e(f.platform or "-")),
        ("Customer", e(f.customer or "-")),
        ("Engineer", e(f.engineer or "-")),
        ("Opened", _utc(f.opened_at, with_date=True)),
        ("Closed", _utc(f.closed_at, with_date=True) if f.closed_at else "still open"),
    ]
    yield "".join(f"<dt>{name}</dt><dd>{value}</dd>\n" for name, value in facts)
    yield "</dl>\n"
    if f.description:
        yield f"<p class='desc'>{e(f.description)}</p>\n"
    for limit in doc.limitations:
        yield f"<p class='limit' role='note'><strong>What CaseRoom could not see:</strong> {e(limit)}</p>\n"
    yield "<h2>Participants</h2>\n"
    if doc.participants:
        yield "<table>\n<tr><th>Name</th><th>E-mail</th><th>Role</th><th>Status</th></tr>\n"
        for p in doc.participants:
            cells = (p.name or "-", p.email, p.role, p.status)
            yield "<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>\n"
        yield "</table>\n"
    else:
        yield "<p>Nobody.</p>\n"
    yield "<h2>Files</h2>\n"
    if doc.files:
        yield "<table>\n<tr><th>File</th><th>Size</th><th>Shared by</th><th>At</th><th>CRM copy</th></tr>\n"
        for x in doc.files:
            copy_cell = _link(x.crm_url, x.crm_ref) if x.crm_ref else "not filed"
            yield (
                f"<tr><td>{e(x.name)}</td><td>{e(human_size(x.size))}</td><td>{e(x.uploaded_by or '-')}</td>"
                f"<td>{_utc(x.uploaded_at, with_date=True)}</td><td>{copy_cell}</td></tr>\n"
            )
        yield "</table>\n"
    else:
        yield "<p>None.</p>\n"
    yield "</header>\n<main>\n<h2>Timeline</h2>\n"


def _entry(x: Entry) -> str:
    cls = CLASSES.get(x.kind, "sys")
    if x.deleted and x.kind == "message":
        cls += " deleted"
    parts = [f"<div class='e {cls}' id='e{x.seq}' data-kind='{e(x.kind)}'>", _utc(x.at, with_date=x.show_date)]
    if x.who:
        parts.append(f" <b>{e(x.who)}</b>")
    label = LABELS.get(x.kind)
    if label:
        parts.append(f" <span class='mark'>[{label}]</span>")
    text = x.text or ("(message deleted)" if x.deleted else "")
    parts.append(f" <span class='t'>{e(text)}</span>")
    if x.edited_at:
        parts.append(f" <span class='mark'>(edited {_utc(x.edited_at, with_date=True)})</span>")
    if x.deleted and x.kind != "message_deleted":
        parts.append(" <span class='mark'>(deleted)</span>")
    if x.files and x.kind != "file":  # an upload's text already names its files
        parts.append(f" <span class='files'>📎 {e(', '.join(x.files))}</span>")
    parts.append("</div>\n")
    return "".join(parts)
