"""The reconciliation sweep: heal what lost Outbound Messages would have done.

Salesforce drops an Outbound Message it could not deliver for 24 hours, and a Flow can be switched off for a
while. The scheduler leader enqueues this sweep every ``SALESFORCE_RECONCILE_SECONDS``; it asks SOQL for the
cases changed since its watermark and stores one re-read case event per change, exactly as a notification
would be stored — keyed by case and LastModifiedDate, so a change the webhook already delivered, or a sweep
run twice, adds nothing. The lifecycle then opens missing rooms, applies rotations and closes closed cases.

The watermark is the newest LastModifiedDate seen, but Salesforce stamps LastModifiedDate when a save starts,
not when it commits: a long save (a trigger, a Flow, a data load) becomes visible after newer changes were read,
with a stamp behind the watermark. So each sweep reads from ``SALESFORCE_RECONCILE_OVERLAP_SECONDS`` before
the watermark; what it has seen already is dropped by the key above.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.db import Database
from bot.events import CaseEvent
from bot.ingest import Ingest, JobSpec
from bot.models import Cursor
from handlers import case_events
from integrations.crm import CaseSnapshot
from integrations.salesforce.crm import NAME as SALESFORCE
from integrations.salesforce.crm import SalesforceCRM

log = logging.getLogger(__name__)
KIND = "salesforce.reconcile"
CURSOR = "salesforce.case_modified"
FIRST_LOOKBACK = timedelta(hours=24)  # how far back a first sweep looks: what Salesforce may have dropped
PAGE = 2000  # changes per SOQL query; a sweep pages on while pages come back full


def sweep(crm: SalesforceCRM, ingest: Ingest, db: Database, now: Callable[[], datetime], *,
          overlap: timedelta) -> int:  # fmt: skip
    """One pass, from ``overlap`` behind the watermark; returns how many changes were new to CaseRoom."""
    with db.session() as s:
        cursor = s.get(Cursor, CURSOR)
        since = datetime.fromisoformat(cursor.value) - overlap if cursor and cursor.value else now() - FIRST_LOOKBACK
    new = 0
    while True:
        changed = crm.changed_since(since, limit=PAGE)
        for crm_id, modified in changed:
            new += _accept(ingest, crm_id, modified)
        if not changed:
            break
        newest = max(m for _, m in changed)
        _advance(db, newest, now)
        # The window alone may hold more than a page: re-reading its first page on every sweep would never get
        # past it. Page on from the newest second read (its other rows may not have fitted: LastModifiedDate has
        # second precision and the query compares with ">"), unless a whole page shares one second.
        following = newest.replace(microsecond=0) - timedelta(seconds=1)
        if len(changed) < PAGE or following <= since.replace(microsecond=0):
            break
        since = following
    if new:
        log.info("reconciliation: %d case change(s) Salesforce did not deliver; re-reading them", new)
    return new


def _accept(ingest: Ingest, crm_id: str, modified: datetime) -> int:
    stamp = modified.astimezone(UTC).isoformat()
    snap = CaseSnapshot(crm_id=crm_id, number=crm_id, subject="", modified_at=modified)
    event = CaseEvent(event_id=f"sweep:{crm_id}:{stamp}", type="case.updated", occurred_at=modified, case=snap,
                      crm=SALESFORCE, reread=True)  # fmt: skip
    job = JobSpec(case_events.KIND, event.to_payload(), lane=case_events.lane(crm_id))
    return int(ingest.accept("salesforce.sweep", f"{crm_id}:{stamp}", json.dumps({"Id": crm_id, "at": stamp}), [job]))


def _advance(db: Database, watermark: datetime, now: Callable[[], datetime]) -> None:
    """Move the watermark forward only: a re-read window never moves it back."""
    with db.session() as s:
        row = s.get(Cursor, CURSOR) or Cursor(name=CURSOR)
        if not row.value or datetime.fromisoformat(row.value) < watermark:
            row.value, row.updated_at = watermark.isoformat(), now()
            s.add(row)
            s.commit()
