"""One timeline entry per platform message, whichever events tell of it, in whatever order.

Slack tells of an upload twice (``file_shared`` and the ``message`` holding the file), and either may come first
or alone; Webex sends the message once; a message may also be a ``/case`` command (run by its own job); closure
exports the room's messages again. All of them meet on the message's id (``msg:<id>``): the entry gathers the
message's files and its typed text, each file is announced in the room once, and a command stays a command.
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


def record_upload(
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
    source_key: str | None = None,
) -> TimelineEvent:
    """The message's entry with ``files`` (and ``said``, its typed text) added to what it already holds; keyed by
    the message (``msg:<id>``) unless ``source_key`` names another key (a mail's, which posts as the bot)."""
    entry_key = source_key or key(message_id)
    fresh = {"message_id": message_id, "parent_id": parent_id, "files": [], "file_ids": [], "uploads": [],
             "said": "", "announced_files": [], **(extra or {})}  # fmt: skip
    timeline.record(s, case_id, timeline.Kind.FILE, "", at=at, actor_email=actor_email, actor_name=who or None,
                    data=fresh, source_key=entry_key)  # fmt: skip
    # Locked: closure's export may meet the live event on the same entry.
    entry = timeline.keyed(s, case_id, entry_key, lock=True)
    assert entry is not None
    data = {**fresh, **entry.data}
    ids, names, uploads = list(data["file_ids"]), list(data["files"]), list(data["uploads"])
    for f in files:
        if f.file_id not in ids:
            ids.append(f.file_id)
            names.append(f.name)
            uploads.append(describe(who, f))
    entry.data = {**data, "file_ids": ids, "files": names, "uploads": uploads, "said": data["said"] or said}
    if entry.kind != timeline.Kind.COMMAND:  # a command's entry shows the command, its files beside it
        entry.kind = str(timeline.Kind.FILE)
        entry.text = copy.upload_entry(uploads, entry.data["said"])
    s.add(entry)
    return entry


def record_command(
    s: Session,
    case_id: int,
    *,
    message_id: str,
    text: str,
    at: datetime,
    actor_email: str | None,
    actor_name: str | None,
    data: dict[str, Any],
) -> None:
    """The message's entry shown as the command it typed, keeping what other events put there (its files)."""
    data = {**data, "message_id": message_id}
    timeline.record(s, case_id, timeline.Kind.COMMAND, text, at=at, actor_email=actor_email, actor_name=actor_name,
                    data=data, source_key=key(message_id))  # fmt: skip
    entry = timeline.keyed(s, case_id, key(message_id), lock=True)
    assert entry is not None
    if entry.kind == timeline.Kind.COMMAND:
        return
    # The message's upload (or closure's export of it) came first: the entry becomes the command.
    entry.kind = str(timeline.Kind.COMMAND)
    entry.text = text
    entry.actor_name = entry.actor_name or actor_name
    entry.data = {**entry.data, **data}
    s.add(entry)


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
