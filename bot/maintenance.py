"""Housekeeping the scheduler leader enqueues: old finished jobs and deliveries are purged."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from bot.models import Delivery, Job, JobStatus
from bot.services import Services

PURGE_KIND = "maintenance.purge"
KEEP_JOBS = timedelta(days=7)
# Deliveries are the duplicate filter: keep them well past every platform's retry horizon (Salesforce: 24 h).
KEEP_DELIVERIES = timedelta(days=30)


def purge(sv: Services) -> None:
    now = sv.clock()
    with sv.db.session() as s:
        s.execute(delete(Job).where(Job.status == JobStatus.DONE, Job.finished_at < now - KEEP_JOBS))  # type: ignore[arg-type,operator]
        s.execute(delete(Delivery).where(Delivery.received_at < now - KEEP_DELIVERIES))  # type: ignore[arg-type]
        s.commit()
