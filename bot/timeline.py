"""The case's event log: the product's memory. Transcripts, summaries and metrics read from here."""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlmodel import Session

from bot.models import TimelineEvent, utcnow
from bot.sqlutil import insert_ignore


class Kind(enum.StrEnum):
    STATE = "state"  # room state changes: opening, open, closing, closed, failed
    MESSAGE = "message"
    BOT = "bot"  # the bot's own words in the room: a welcome, a command's answer, the closing notice
    MESSAGE_EDITED = "message_edited"
    MESSAGE_DELETED = "message_deleted"
    JOIN = "join"
    LEAVE = "leave"
    INVITE = "invite"
    REMOVE = "remove"
    FILE = "file"
    NOTE = "note"
    COMMAND = "command"
    HANDOFF = "handoff"
    CASE = "case"  # CRM-side facts: opened, updated, closed
    ERROR = "error"  # something people should know went wrong (e.g. an invitation refused)


def record(
    session: Session,
    case_id: int,
    kind: Kind,
    text: str = "",
    *,
    at: datetime | None = None,
    actor_email: str | None = None,
    actor_name: str | None = None,
    data: dict[str, Any] | None = None,
    source_key: str | None = None,
) -> bool:
    """Append an event; with ``source_key``, a second record of the same thing is ignored. True if new."""
    new_id = insert_ignore(
        session,
        TimelineEvent,
        {
            "case_id": case_id,
            "kind": str(kind),
            "text": text,
            "at": at or utcnow(),
            "actor_email": actor_email,
            "actor_name": actor_name,
            "data": data or {},
            "source_key": source_key,
        },
    )
    return new_id is not None


def keyed(session: Session, case_id: int, source_key: str, *, lock: bool = False) -> TimelineEvent | None:
    """The case's entry recorded under ``source_key``; ``lock`` holds its row where the database can."""
    q = select(TimelineEvent).where(TimelineEvent.case_id == case_id, TimelineEvent.source_key == source_key)  # type: ignore[arg-type]
    return session.execute(q.with_for_update() if lock else q).scalar_one_or_none()


def events(session: Session, case_id: int, *, kinds: set[Kind] | None = None) -> list[TimelineEvent]:
    """The case's whole timeline, oldest first. The product reads its last entries (:func:`latest`); tests
    read all of it."""
    q = select(TimelineEvent).where(TimelineEvent.case_id == case_id)  # type: ignore[arg-type]
    if kinds:
        q = q.where(TimelineEvent.kind.in_([str(k) for k in kinds]))  # type: ignore[attr-defined]
    return list(session.execute(q.order_by(TimelineEvent.at, TimelineEvent.id)).scalars().all())  # type: ignore[arg-type]


def latest(
    session: Session,
    case_id: int,
    n: int,
    *,
    kinds: Collection[str] | None = None,
    without: Collection[str] = (),
    keep: Callable[[TimelineEvent], bool] | None = None,
) -> list[TimelineEvent]:
    """The case's last ``n`` entries (oldest first) of ``kinds`` (all when None), none of ``without``, each one
    ``keep`` accepts.

    Read backwards through (case, time, id) a page at a time, so the cost follows ``n``, not the case's history:
    a page answered inside a chat platform's acknowledgement stays as fast on a case's thousandth day as on its
    first. ``keep`` judges what SQL cannot (who may read a command's echo); the pages go on until ``n`` are kept.
    """
    page = n if keep is None else max(n, 50)  # only ``keep`` leaves rows out: then read ahead
    q = select(TimelineEvent).where(TimelineEvent.case_id == case_id)  # type: ignore[arg-type]
    if kinds is not None:
        q = q.where(TimelineEvent.kind.in_([str(k) for k in kinds]))  # type: ignore[attr-defined]
    if without:
        q = q.where(TimelineEvent.kind.not_in([str(k) for k in without]))  # type: ignore[attr-defined]
    newest_first = q.order_by(TimelineEvent.at.desc(), TimelineEvent.id.desc()).limit(page)  # type: ignore[attr-defined,union-attr]
    found: list[TimelineEvent] = []
    before: tuple[datetime, int] | None = None
    while len(found) < n:
        step = newest_first
        if before is not None:
            step = step.where(tuple_(TimelineEvent.at, TimelineEvent.id) < tuple_(*before))
        rows = list(session.execute(step).scalars().all())
        found += [e for e in rows if keep is None or keep(e)]
        if len(rows) < page:
            break
        last = rows[-1]
        assert last.id is not None
        before = (last.at, last.id)
    return list(reversed(found[:n]))


def count(session: Session, case_id: int) -> int:
    """How many entries the case has (read from its index, not its rows)."""
    q = select(func.count()).select_from(TimelineEvent).where(TimelineEvent.case_id == case_id)  # type: ignore[arg-type]
    return int(session.execute(q).scalar_one())
