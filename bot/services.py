"""What a job or a request handler works with: settings, database, queue and the two ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from bot.commands import Registry
from bot.config import Settings
from bot.db import Database
from bot.health import HealthRecords
from bot.jobs import Clock, JobQueue, PermanentJobError
from bot.models import utcnow
from integrations.crm import CRMPort
from integrations.messaging import MessagingPort


@dataclass
class Services:
    settings: Settings
    db: Database
    queue: JobQueue
    messaging: dict[str, MessagingPort] = field(default_factory=dict)
    crm: CRMPort | None = None
    clock: Clock = utcnow
    health: HealthRecords = field(default_factory=HealthRecords)  # how each outside system answered this runtime
    commands: Registry = field(default_factory=Registry)  # what `/case ...` answers here (the runtime's families)

    def messenger(self, platform: str) -> MessagingPort:
        try:
            return self.messaging[platform]
        except KeyError:
            configured = ", ".join(sorted(self.messaging)) or "none"
            raise PermanentJobError(
                f"chat platform {platform!r} is not configured (configured: {configured})"
            ) from None

    def stable_url(self, case_number: str) -> str:
        """The one URL of a case's room; it redirects to wherever the room lives."""
        return f"{self.settings.public_url}/rooms/{quote(case_number, safe='')}"

    def platform_for(self, requested: str | None) -> str:
        """The platform a case's room goes on: the one its event names, else the configured default, else the
        only configured one (settings refuse several without a default; the first by name stands in for tests)."""
        return requested or self.settings.default_platform or min(self.messaging, default="none")
