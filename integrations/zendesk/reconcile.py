"""The reconciliation sweep: heal what lost webhooks would have done.

Zendesk gives up on a webhook after a few retries, and a trigger can be switched off for a while. The scheduler
leader enqueues this sweep every ``ZENDESK_RECONCILE_SECONDS``; it reads Zendesk's cursor-based incremental ticket
export from where the last sweep stopped and stores one re-read case event per change, under the same key a
webhook for that change has (ticket and time of change): a change the webhook delivered, or a sweep run twice, adds
nothing. The cursor is saved after each page, so a sweep cut short resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.db import Database
from bot.ingest import Ingest, JobSpec
from bot.models import Cursor
from handlers import case_events
from integrations.zendesk.crm import ZendeskCRM
from integrations.zendesk.inbound import change_key, to_event

log = logging.getLogger(__name__)
KIND = "zendesk.reconcile"
CURSOR = "zendesk.ticket_export"
FIRST_LOOKBACK = timedelta(hours=24)  # how far back a first sweep looks
MAX_PAGES = 50  # per sweep; the next sweep goes on from the saved cursor


def sweep(crm: ZendeskCRM, ingest: Ingest, db: Database, now: Callable[[], datetime]) -> int:
    """One pass from the saved cursor; returns how many changes were new to CaseRoom."""
    with db.session() as s:
        row = s.get(Cursor, CURSOR)
        cursor = row.value if row and row.value else None
    start = None if cursor else now() - FIRST_LOOKBACK
    new = 0
    for _ in range(MAX_PAGES):
        page = crm.changes(cursor=cursor, start_time=start)
        for ticket, changed in page.tickets:
            event = to_event(ticket, change_key(ticket, changed), changed, changed)
            job = JobSpec(case_events.KIND, event.to_payload(), lane=case_events.lane(event.case.crm_id))
            raw = json.dumps({"ticket_id": ticket, "updated_at": changed.isoformat(), "via": "incremental export"})
            new += int(ingest.accept("zendesk", change_key(ticket, changed), raw, [job]))
        if page.after_cursor:
            cursor, start = page.after_cursor, None
            _save(db, cursor, now)
        if page.end_of_stream or not page.after_cursor:
            break
    if new:
        log.info("reconciliation: %d ticket change(s) Zendesk did not deliver; re-reading them", new)
    return new


def _save(db: Database, cursor: str, now: Callable[[], datetime]) -> None:
    with db.session() as s:
        row = s.get(Cursor, CURSOR) or Cursor(name=CURSOR)
        row.value, row.updated_at = cursor, now()
        s.add(row)
        s.commit()
