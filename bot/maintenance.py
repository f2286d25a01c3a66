"""Housekeeping the scheduler leader enqueues: old finished jobs, old deliveries and idle lanes are purged."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col

from bot.models import Delivery, Job, JobStatus, LaneLease
from bot.services import Services

PURGE_KIND = "maintenance.purge"
KEEP_JOBS = timedelta(days=7)
# Deliveries are the duplicate filter: keep them well past every platform's retry horizon (Salesforce: 24 h).
KEEP_DELIVERIES = timedelta(days=30)
# A lane with no live job and no holder for this long is forgotten; its next job makes it again. Most lanes are a
# single job's own, so without this the table would grow by a row per job.
KEEP_IDLE_LANES = timedelta(hours=1)


def purge(sv: Services) -> None:
    now = sv.clock()
    with sv.db.session() as s:
        s.execute(delete(Job).where(col(Job.status) == JobStatus.DONE, col(Job.finished_at) < now - KEEP_JOBS))
        s.execute(delete(Delivery).where(col(Delivery.received_at) < now - KEEP_DELIVERIES))
        # Safe against a job being queued in the lane meanwhile: that sets head_at, which this re-reads (PostgreSQL
        # re-checks a row another transaction changed; SQLite has one writer), and a deleted lane is made again.
        idle = col(LaneLease.head_at).is_(None), col(LaneLease.until) < now - KEEP_IDLE_LANES
        s.execute(delete(LaneLease).where(*idle))
        s.commit()
