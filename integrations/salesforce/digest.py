"""Joins, leaves and uploads reach the case as one Chatter post per case per interval, not one call each.

A busy room would otherwise spend the org's daily API allocation on "X joined". The scheduler leader runs
this every ``SALESFORCE_DIGEST_SECONDS``; it reads new timeline lines after a global watermark and posts
a FeedItem per case. A per-case watermark, moved after each post, keeps a retried run from posting twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import select
from sqlmodel import col

from bot.db import Database
from bot.models import Case, Cursor, TimelineEvent
from bot.timeline import Kind
from integrations.salesforce.crm import SalesforceCRM

KIND = "salesforce.digest"
CURSOR = "salesforce.digest"
KINDS = (Kind.JOIN, Kind.LEAVE, Kind.FILE)
BATCH = 2000


def _position(db: Database, name: str) -> int:
    with db.session() as s:
        row = s.get(Cursor, name)
        return int(row.value) if row and row.value else 0


def _advance(db: Database, name: str, value: int, now: Callable[[], object]) -> None:
    with db.session() as s:
        row = s.get(Cursor, name) or Cursor(name=name)
        if not row.value or int(row.value) < value:
            row.value = str(value)
            row.updated_at = now()  # type: ignore[assignment]
            s.add(row)
            s.commit()


def run(crm: SalesforceCRM, db: Database, now: Callable[[], object]) -> int:
    """Post the digests due; returns how many FeedItems were created."""
    start = _position(db, CURSOR)
    with db.session() as s:
        q = (
            select(col(TimelineEvent.id), col(TimelineEvent.at), col(TimelineEvent.text), col(Case.crm_id))
            .join(Case, col(Case.id) == col(TimelineEvent.case_id))
            .where(col(TimelineEvent.id) > start, col(TimelineEvent.kind).in_([str(k) for k in KINDS]))
            .order_by(col(TimelineEvent.id))
            .limit(BATCH)
        )
        rows = s.execute(q).all()
    if not rows:
        return 0
    by_case: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for event_id, at, text, crm_id in rows:
        by_case[crm_id].append((event_id, f"{at:%Y-%m-%d %H:%M} UTC  {text}"))
    posted = 0
    for crm_id, lines in by_case.items():
        done = _position(db, f"{CURSOR}:{crm_id}")
        fresh = [line for event_id, line in lines if event_id > done]
        if fresh:
            crm.post_digest(crm_id, ["CaseRoom activity in the case room:", *fresh])
            posted += 1
        _advance(db, f"{CURSOR}:{crm_id}", lines[-1][0], now)
    _advance(db, CURSOR, rows[-1][0], now)
    return posted
