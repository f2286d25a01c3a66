"""The reconciliation sweep: heal what lost Outbound Messages would have done.

Salesforce drops an Outbound Message it could not deliver for 24 hours, and a Flow can be switched off for a
while. The scheduler leader enqueues this sweep every ``SALESFORCE_RECONCILE_SECONDS``; it asks SOQL for the
cases changed since its watermark and stores one re-read case event per change, exactly as a notification
would be stored — keyed by case and LastModifiedDate, so a change the webhook already delivered, or a sweep
run twice, adds nothing. The lifecycle then opens missing rooms, applies rotations and closes closed cases.
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
from integrations.salesforce.crm import SalesforceCRM

log = logging.getLogger(__name__)
KIND = "salesforce.reconcile"
CURSOR = "salesforce.case_modified"
FIRST_LOOKBACK = timedelta(hours=24)  # how far back a first sweep looks: what Salesforce may have dropped
OVERLAP = timedelta(seconds=1)  # LastModifiedDate has second precision: look again at the watermark's second


def sweep(crm: SalesforceCRM, ingest: Ingest, db: Database, now: Callable[[], datetime]) -> int:
    """One pass; returns how many changes were new to CaseRoom."""
    with db.session() as s:
        cursor = s.get(Cursor, CURSOR)
        since = datetime.fromisoformat(cursor.value) if cursor and cursor.value else now() - FIRST_LOOKBACK
    changed = crm.changed_since(since - OVERLAP)
    new = 0
    for crm_id, modified in changed:
        stamp = modified.astimezone(UTC).isoformat()
        snap = CaseSnapshot(crm_id=crm_id, number=crm_id, subject="", modified_at=modified)
        event = CaseEvent(event_id=f"sweep:{crm_id}:{stamp}", type="case.updated", occurred_at=modified, case=snap,
                          source="salesforce", reread=True)  # fmt: skip
        job = JobSpec(case_events.KIND, event.to_payload(), lane=case_events.lane(crm_id))
        new += ingest.accept("salesforce.sweep", f"{crm_id}:{stamp}", json.dumps({"Id": crm_id, "at": stamp}), [job])
    if changed:
        watermark = max(m for _, m in changed)
        with db.session() as s:
            row = s.get(Cursor, CURSOR) or Cursor(name=CURSOR)
            if not row.value or datetime.fromisoformat(row.value) < watermark:
                row.value, row.updated_at = watermark.isoformat(), now()
                s.add(row)
                s.commit()
    if new:
        log.info("reconciliation: %d case change(s) Salesforce did not deliver; re-reading them", new)
    return new
