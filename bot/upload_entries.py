"""One timeline entry per message that carries files, whichever event brings them, in whatever order.

Slack tells of an upload twice (``file_shared`` and the ``message`` holding the file), and either may come first
or alone; Webex sends the message once; closure exports the room's messages again. All of them meet on the
message's id (``msg:<id>``, the key plain messages use too): the entry gathers the message's files and its typed
text, and each file is announced in the room once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import copy, timeline
from bot.models import TimelineEvent
from integrations.messaging import FileRef


def key(message_id: str) -> str:
    return f"msg:{message_id}"


def describe(who: str, f: FileRef) -> str:
    return copy.upload_blocked(who, f.blocked) if f.blocked else copy.uploaded(who, f.name, f.size)


def record(
    s: Session,
    case_id: int,
    *,
    message_id: str,
    who: str,
    files: Sequence[FileRef],
    said: str = "",
    at: datetime | None = None,
    actor_email: str | None = None,
    parent_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> TimelineEvent:
    """The message's entry with ``files`` (and ``said``, its typed text) added to what it already holds."""
    fresh = {"message_id": message_id, "parent_id": parent_id, "files": [], "file_ids": [], "uploads": [],
             "said": "", "announced_files": [], **(extra or {})}  # fmt: skip
    timeline.record(s, case_id, timeline.Kind.FILE, "", at=at, actor_email=actor_email, actor_name=who or None,
                    data=fresh, source_key=key(message_id))  # fmt: skip
    # Locked: closure's export may meet the live event on the same entry.
    entry = timeline.keyed(s, case_id, key(message_id), lock=True)
    assert entry is not None
    data = {**fresh, **entry.data}
    ids, names, uploads = list(data["file_ids"]), list(data["files"]), list(data["uploads"])
    for f in files:
        if f.file_id not in ids:
            ids.append(f.file_id)
            names.append(f.name)
            uploads.append(describe(who, f))
    entry.data = {**data, "file_ids": ids, "files": names, "uploads": uploads, "said": data["said"] or said}
    entry.kind = str(timeline.Kind.FILE)
    entry.text = copy.upload_entry(uploads, entry.data["said"])
    s.add(entry)
    return entry


def unannounced(entry: TimelineEvent) -> tuple[list[str], str]:
    """The entry's files not yet announced in the room, and the announcement that names them."""
    done = set(entry.data.get("announced_files") or ())
    ids, uploads = entry.data.get("file_ids") or [], entry.data.get("uploads") or []
    pending = [(i, u) for i, u in zip(ids, uploads, strict=True) if i not in done]
    return [i for i, _ in pending], "; ".join(u for _, u in pending)


def mark_announced(s: Session, entry_id: int, file_ids: Sequence[str]) -> None:
    row = s.get(TimelineEvent, entry_id)
    assert row is not None
    done = list(row.data.get("announced_files") or [])
    row.data = {**row.data, "announced_files": done + [i for i in file_ids if i not in done]}
    s.add(row)
