"""Transcript -> JSON (``manifest/transcript.schema.json``), written entry by entry.

One entry per line inside ``entries``, so a reader can also stream it line by line; ``entry_count`` comes
last because it is only known once the timeline has been read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from bot.transcript.model import Entry, Transcript

SCHEMA_ID = "https://caseroom.dev/schemas/transcript.schema.json"
SCHEMA_VERSION = "2.0"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def header(doc: Transcript) -> dict[str, Any]:
    f = doc.facts
    return {
        "$schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "case": {
            "number": f.number,
            "crm_id": f.crm_id,
            "subject": f.subject,
            "description": f.description,
            "status": f.status,
            "priority": f.priority,
            "platform": f.platform,
            "link": f.link,
            "customer": f.customer,
            "engineer": f.engineer,
            "opened_at": _iso(f.opened_at),
            "closed_at": _iso(f.closed_at),
        },
        "participants": [
            {"email": p.email, "name": p.name, "role": p.role, "status": p.status} for p in doc.participants
        ],
        "files": [
            {
                "name": x.name,
                "size": x.size,
                "mime": x.mime,
                "uploaded_by": x.uploaded_by,
                "uploaded_at": _iso(x.uploaded_at),
                "crm_ref": x.crm_ref,
                "crm_url": x.crm_url,
            }
            for x in doc.files
        ],
        "limitations": list(doc.limitations),
    }


def entry(x: Entry) -> dict[str, Any]:
    return {
        "seq": x.seq,
        "at": _iso(x.at),
        "kind": x.kind,
        "actor": {"email": x.actor_email, "name": x.actor_name} if (x.actor_email or x.actor_name) else None,
        "text": x.text,
        "message_id": x.message_id,
        "parent_id": x.parent_id,
        "depth": x.depth,
        "edited_at": _iso(x.edited_at),
        "deleted": x.deleted,
        "files": list(x.files),
    }


def render(doc: Transcript, progress: Callable[[int], None] | None = None) -> Iterator[str]:
    head = header(doc)
    yield "{\n" + "".join(f"{_dump(k)}:{_dump(v)},\n" for k, v in head.items()) + '"entries":['
    n = 0
    for x in doc.entries(progress):
        yield ("\n" if n == 0 else ",\n") + _dump(entry(x))
        n += 1
    yield f'\n],\n"entry_count":{n}\n}}\n'
