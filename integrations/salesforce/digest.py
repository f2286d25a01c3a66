"""Joins, leaves and uploads reach the case as one Chatter post per case per interval, not one call each.

A busy room would otherwise spend the org's daily API allocation on "X joined". The scheduler leader runs
this every ``SALESFORCE_DIGEST_SECONDS``; it reads the timeline lines of the last ``HORIZON`` that no digest
has claimed yet, posts a FeedItem per case and claims that case's lines (``DigestedEvent``). Claims, not a
watermark on the timeline's ids: ids are handed out at insert, so on PostgreSQL a lower id can commit after a
higher one was digested, and a watermark would skip it for good.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlmodel import col

from bot.db import Database
from bot.models import Case, DigestedEvent, TimelineEvent
from bot.sqlutil import insert_many_ignore
from bot.timeline import Kind
from integrations.salesforce.crm import SalesforceCRM

KIND = "salesforce.digest"
KINDS = (Kind.JOIN, Kind.LEAVE, Kind.FILE)
BATCH = 2000
# Keeps the query to recent lines. Far longer than any delay between a room event and its timeline line (job
# retries, a replica down for a while); activity older than this is stale news for the case's feed anyway.
HORIZON = timedelta(hours=48)


def run(crm: SalesforceCRM, db: Database, now: Callable[[], datetime], *, legacy: bool = False) -> int:
    """Post the digests due to Salesforce's own cases (and, with ``legacy``, to those recorded before cases named
    their CRM, which are Salesforce's when it is the only CRM); returns how many FeedItems were created."""
    claimed = exists().where(col(DigestedEvent.event_id) == col(TimelineEvent.id))
    kinds = [str(k) for k in KINDS]
    ours = [crm.name, ""] if legacy else [crm.name]
    with db.session() as s:
        q = (
            select(col(TimelineEvent.id), col(TimelineEvent.at), col(TimelineEvent.text), col(Case.crm_id))
            .join(Case, col(Case.id) == col(TimelineEvent.case_id))
            .where(col(TimelineEvent.at) >= now() - HORIZON, col(TimelineEvent.kind).in_(kinds), ~claimed,
                   col(Case.crm).in_(ours))
            .order_by(col(TimelineEvent.at), col(TimelineEvent.id))
            .limit(BATCH)
        )
        rows = s.execute(q).all()
    by_case: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for event_id, at, text, crm_id in rows:
        by_case[crm_id].append((event_id, f"{at:%Y-%m-%d %H:%M} UTC  {text}"))
    posted = 0
    for crm_id, lines in by_case.items():
        crm.post_digest(crm_id, ["CaseRoom activity in the case room:", *(line for _, line in lines)])
        posted += 1
        # Claimed right after the post, not in one transaction with it (a FeedItem is no database row): a crash
        # between the two posts these lines once more, in the next run.
        with db.session() as s:
            insert_many_ignore(s, DigestedEvent, [{"event_id": event_id, "posted_at": now()} for event_id, _ in lines])
            s.commit()
    return posted
