"""Assemble one CaseRoom process: database, queue, ports from plugins, HTTP app, workers, scheduler."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from fastapi import APIRouter, FastAPI

from bot import maintenance, schema
from bot.app import create_app
from bot.config import Settings
from bot.db import Database
from bot.ingest import Ingest
from bot.jobs import Backoff, JobQueue
from bot.plugins import Listener, Plugin, PluginContext, discover
from bot.scheduler import LeaderScheduler, Periodic
from bot.services import Services
from bot.worker import JobKind, Worker, WorkerPool
from handlers import commands, job_kinds, shift_handoffs
from integrations.crm import CRMPort
from integrations.messaging import MessagingPort

log = logging.getLogger(__name__)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        plugins: Iterable[Plugin] | None = None,
        messaging: dict[str, MessagingPort] | None = None,
        crms: dict[str, CRMPort] | None = None,
        routers: Iterable[APIRouter] = (),
    ) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        schema.prepare(self.db)  # an empty database is built; an older or newer one is refused (SchemaError)
        self.queue = JobQueue(
            self.db,
            max_attempts=settings.job_max_attempts,
            lease_seconds=settings.job_lease_seconds,
            backoff=Backoff(settings.job_backoff_base_seconds, settings.job_backoff_max_seconds),
        )
        self.services = Services(settings, self.db, self.queue, dict(messaging or {}), dict(crms or {}),
                                 commands=commands.registry())  # fmt: skip
        all_routers = list(routers)
        periodic = [Periodic(maintenance.PURGE_KIND, 3600)]
        if settings.shifts_file:
            periodic.append(Periodic(shift_handoffs.CLOCK_KIND, shift_handoffs.CLOCK_SECONDS))
        plugin_kinds: dict[str, JobKind] = {}
        self.listeners: list[Listener] = []
        webhooks: dict[str, str] = {}
        body_limits: dict[str, int] = {}
        self.ingest = Ingest(self.db, self.queue)  # one writer per process: every webhook shares its group commits
        ctx = PluginContext(settings, self.ingest, self.queue, self.services)
        for plugin in discover() if plugins is None else plugins:
            parts = plugin.build(ctx)
            if parts is None:
                log.info("plugin %s: not configured", plugin.name)
                continue
            if parts.messaging and parts.messaging.platform not in self.services.messaging:
                self.services.messaging[parts.messaging.platform] = parts.messaging
            if parts.crm and parts.crm.name not in self.services.crms:
                self.services.crms[parts.crm.name] = parts.crm  # the name its cases record (Case.crm)
            if parts.mailer and self.services.mailer is None:
                self.services.mailer = parts.mailer
            self.listeners += parts.listeners
            all_routers += parts.routers
            webhooks |= parts.webhooks
            body_limits |= parts.body_limits
            periodic += [Periodic(kind, every) for kind, every in parts.scheduled]
            plugin_kinds |= parts.job_kinds
        self.kinds: dict[str, JobKind] = job_kinds(self.services) | plugin_kinds
        self.app: FastAPI = create_app(self.services, all_routers, self.ingest, webhooks, body_limits)
        self.pool = WorkerPool(self.queue, self.kinds, settings.workers)
        self.scheduler = LeaderScheduler(self.services, periodic)

    def worker(self, name: str | None = None) -> Worker:
        return Worker(self.queue, self.kinds, name)

    def start_background(self, *, scheduler: bool = True) -> None:
        self.pool.start()
        if scheduler:
            self.scheduler.start()
        for listener in self.listeners:
            listener.start()

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop()
        self.pool.stop()
        self.scheduler.stop()
        self.db.dispose()
