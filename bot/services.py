"""What a job or a request handler works with: settings, database, queue and the ports (chat platforms, CRMs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from sqlalchemy import select
from sqlmodel import col

from bot.commands import Registry
from bot.config import Settings
from bot.db import Database
from bot.health import HealthRecords
from bot.jobs import Clock, JobQueue, PermanentJobError
from bot.models import Case, utcnow
from integrations.crm import CRMPort
from integrations.mailer import MailerPort
from integrations.messaging import MessagingPort


@dataclass
class Services:
    settings: Settings
    db: Database
    queue: JobQueue
    messaging: dict[str, MessagingPort] = field(default_factory=dict)
    crms: dict[str, CRMPort] = field(default_factory=dict)  # by the name a case records as its CRM (Case.crm)
    clock: Clock = utcnow
    health: HealthRecords = field(default_factory=HealthRecords)  # how each outside system answered this runtime
    commands: Registry = field(default_factory=Registry)  # what `/case ...` answers here (the runtime's families)
    mailer: MailerPort | None = None  # people in rooms by e-mail get their mail through it; None: not set up

    def messenger(self, platform: str) -> MessagingPort:
        try:
            return self.messaging[platform]
        except KeyError:
            configured = ", ".join(sorted(self.messaging)) or "none"
            raise PermanentJobError(
                f"chat platform {platform!r} is not configured (configured: {configured})"
            ) from None

    def crm_named(self, name: str) -> CRMPort | None:
        """The CRM a case belongs to, to read it and to write back to; None when that CRM takes nothing back here.

        A case recorded before CaseRoom kept its CRM ('') belongs to the only one configured, the CRM such a
        process wrote to; with several, nobody can tell, and the case's next event records it."""
        if not name:
            return next(iter(self.crms.values())) if len(self.crms) == 1 else None
        return self.crms.get(name)

    def crm_of(self, case: Case) -> CRMPort | None:
        return self.crm_named(case.crm)

    def crm_for(self, crm_id: str) -> CRMPort | None:
        """:meth:`crm_of` for a case known by its CRM id only (one short read)."""
        with self.db.session() as s:
            name = s.execute(select(col(Case.crm)).where(col(Case.crm_id) == crm_id)).scalar_one_or_none()
        return self.crm_named(name or "")

    def stable_url(self, case_number: str) -> str:
        """The one URL of a case's room; it redirects to wherever the room lives."""
        return f"{self.settings.public_url}/rooms/{quote(case_number, safe='')}"

    def platform_for(self, requested: str | None) -> str:
        """The platform a case's room goes on: the one its event names, else the configured default, else the
        only configured one (settings refuse several without a default; the first by name stands in for tests)."""
        return requested or self.settings.default_platform or min(self.messaging, default="none")
