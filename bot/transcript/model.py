"""What a transcript holds: the case's facts and people (small, loaded at once) and its entries (streamed).

The order nests each thread under its first message: a reply, an edit or a deletion sorts right after the
message it belongs to (found through the unique ``msg:<id>`` key of the timeline, an indexed look-up). That
order is read once, as entry ids only (8 bytes an entry), and the entries are then read a page at a time by
primary key, each page in its own short session. So a 100,000-message room holds a few hundred rows in
memory at a time, and nothing (no connection, no SQLite snapshot, no PostgreSQL transaction) stays open
while a slow client downloads or a CRM receives. Why not a keyset over the thread order itself: the order is
computed (each entry's thread root), so every page would join and sort the whole timeline again.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, String, Table, case, func, literal, select

from bot.db import Database
from bot.membership import participants
from bot.models import Case, CaseFile, TimelineEvent
from bot.sqlutil import among
from integrations.messaging import Visibility

FETCH = 500  # entries read per page (and per session): memory is bounded by this, not by the room's size
SAFE_SCHEMES = ("https://", "http://")
SPEAKING = frozenset({"message", "message_edited", "message_deleted", "note", "command", "bot"})


@dataclass(frozen=True)
class Facts:
    number: str
    crm_id: str
    subject: str
    description: str
    status: str
    priority: str
    platform: str
    link: str | None
    opened_at: datetime
    closed_at: datetime | None
    customer: str | None
    engineer: str | None


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: str
    status: str


@dataclass(frozen=True)
class FileItem:
    name: str
    size: int | None
    mime: str | None
    uploaded_by: str | None
    uploaded_at: datetime
    crm_ref: str | None
    crm_url: str | None  # where the CRM copy is reached: the ref itself when it is a URL, else the case record


@dataclass(frozen=True)
class Entry:
    seq: int  # 1-based position in the transcript
    at: datetime
    kind: str
    actor_email: str | None
    actor_name: str | None
    text: str
    message_id: str | None
    parent_id: str | None
    depth: int  # 0: top level; 1: nested under the message that starts its thread
    edited_at: datetime | None
    deleted: bool
    files: tuple[str, ...]
    new_day: bool  # a top-level entry on a later UTC day than the one before: renderers print the date
    show_date: bool  # a nested entry from another day than its heading: renderers print its date inline

    @property
    def who(self) -> str:
        """Who spoke; empty for entries whose text already names the person (joins, uploads, handoffs)."""
        if self.kind not in SPEAKING:
            return ""
        return self.actor_name or self.actor_email or ""


@dataclass
class Transcript:
    facts: Facts
    participants: list[Person]
    files: list[FileItem]
    limitations: list[str]
    db: Database
    case_id: int

    def count(self) -> int:
        return self._count(TimelineEvent.case_id == self.case_id)

    def message_count(self) -> int:
        return self._count(TimelineEvent.case_id == self.case_id, TimelineEvent.kind == "message")

    def _count(self, *where: Any) -> int:
        with self.db.session() as s:
            return int(s.execute(select(func.count()).select_from(TimelineEvent).where(*where)).scalar_one())

    def entries(self, progress: Callable[[int], None] | None = None) -> Iterator[Entry]:
        """The timeline in reading order; ``progress(n)`` is called every ``FETCH`` entries and at the end.

        An entry removed after the order was read is skipped; one added after it is left for the next export.
        """
        day: date | None = None
        seq = 0
        order = self._order()
        for start in range(0, len(order), FETCH):
            page = order[start : start + FETCH]
            rows = self._page([abs(key) for key in page])
            for key in page:
                row = rows.get(abs(key))
                if row is None:
                    continue
                seq += 1
                at: datetime = row.at
                data: dict[str, Any] = row.data or {}
                depth = 0 if key > 0 else 1
                new_day = (depth == 0 or day is None) and at.date() != day
                if new_day:
                    day = at.date()
                edited = data.get("edited")
                yield Entry(
                    seq=seq,
                    at=at,
                    kind=row.kind,
                    actor_email=row.actor_email,
                    actor_name=row.actor_name,
                    text=row.text or "",
                    message_id=data.get("message_id"),
                    parent_id=data.get("parent_id"),
                    depth=depth,
                    edited_at=_utc(edited),
                    deleted=row.kind == "message_deleted" or bool(data.get("deleted")),
                    files=tuple(str(f) for f in data.get("files") or ()),
                    new_day=new_day,
                    show_date=depth == 1 and at.date() != day,
                )
                if progress and seq % FETCH == 0:
                    progress(seq)
            del rows  # before the next page is read: one page in memory at a time, not two
        if progress:
            progress(seq)

    def _order(self) -> array[int]:
        """The entries' ids in reading order, negative for an entry nested under its thread's first message."""
        with self.db.session() as s:
            rows = s.execute(_ordered(self.case_id).execution_options(yield_per=FETCH))
            return array("q", (row.id if row.root_id == row.id else -row.id for row in rows))

    def _page(self, ids: list[int]) -> dict[int, Any]:
        t: Table = TimelineEvent.__table__  # type: ignore[attr-defined]
        q = select(t.c.id, t.c.at, t.c.kind, t.c.actor_email, t.c.actor_name, t.c.text, t.c.data)
        with self.db.session() as s:
            return {row.id: row for row in s.execute(q.where(among(s, t.c.id, ids)))}


def _ordered(case_id: int) -> Select[Any]:
    table: Table = TimelineEvent.__table__  # type: ignore[attr-defined]
    t = table.alias("t")
    p = table.alias("p")  # the message this entry replies to, edits or deletes
    pp = table.alias("pp")  # that message's own parent, when it is itself a reply
    ref = case(
        (t.c.kind.in_(["message_edited", "message_deleted"]), t.c.data["message_id"].as_string()),
        else_=t.c.data["parent_id"].as_string(),
    )
    msg = literal("msg:", String)
    root_id = func.coalesce(pp.c.id, p.c.id, t.c.id)
    root_at = func.coalesce(pp.c.at, p.c.at, t.c.at)
    return (
        select(t.c.id, root_id.label("root_id"))
        .select_from(
            t.outerjoin(p, (p.c.case_id == t.c.case_id) & (p.c.source_key == msg + ref)).outerjoin(
                pp, (pp.c.case_id == p.c.case_id) & (pp.c.source_key == msg + p.c.data["parent_id"].as_string())
            )
        )
        .where(t.c.case_id == case_id)
        .order_by(root_at, root_id, t.c.at, t.c.id)
    )


def _utc(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    at = datetime.fromisoformat(value)
    # Platforms' export times are UTC when they carry no zone; the transcript shows UTC only.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def crm_url(ref: str | None, case_link: str | None) -> str | None:
    if ref and ref.startswith(SAFE_SCHEMES):
        return ref
    if ref and case_link and case_link.startswith(SAFE_SCHEMES):
        return case_link
    return None


def build(db: Database, case_id: int, *, visibility: Visibility | None = None) -> Transcript:
    """The transcript of a case: its facts, people and files now, its entries as they are iterated."""
    with db.session() as s:
        c = s.get(Case, case_id)
        if c is None:
            raise LookupError(f"no case with id {case_id}")
        q = select(CaseFile).where(CaseFile.case_id == case_id).order_by(CaseFile.uploaded_at, CaseFile.id)  # type: ignore[arg-type]
        files = [
            FileItem(f.name, f.size, f.mime, f.uploaded_by, f.uploaded_at, f.crm_ref, crm_url(f.crm_ref, c.link))
            for f in s.execute(q).scalars()
        ]
        people = [Person(p.email, p.name, p.role, p.status) for p in participants(s, case_id)]
    hidden = visibility is not None and not visibility.sees_all_messages and visibility.limitation
    limits = [visibility.limitation] if hidden and visibility else []
    return Transcript(
        facts=Facts(
            number=c.number,
            crm_id=c.crm_id,
            subject=c.subject,
            description=c.description,
            status=c.status,
            priority=c.priority,
            platform=c.platform,
            link=c.link,
            opened_at=c.created_at,
            closed_at=c.closed_at,
            customer=_person(c.customer_name, c.customer_email),
            engineer=_person(c.engineer_name, c.engineer_email),
        ),
        participants=people,
        files=files,
        limitations=limits,
        db=db,
        case_id=case_id,
    )


def _person(name: str | None, email: str | None) -> str | None:
    if name and email:
        return f"{name} <{email}>"
    return name or email
