"""The Zendesk plugin: the CRM port, the webhook route and the sweep the leader schedules."""

from __future__ import annotations

from bot.config import Settings
from bot.models import Job
from bot.plugins import PluginContext, PluginParts, Verdict
from bot.worker import JobKind
from integrations.zendesk import inbound, probe, reconcile
from integrations.zendesk.client import Connection
from integrations.zendesk.crm import ZendeskCRM
from integrations.zendesk.settings import ZendeskSettings


class ZendeskPlugin:
    name = "zendesk"
    platform = None
    settings = ZendeskSettings
    quiet_loggers = ("zenpy",)

    def probe(self, settings: Settings) -> list[Verdict]:
        return probe.connection(settings.section(ZendeskSettings))

    def build(self, ctx: PluginContext) -> PluginParts | None:
        s = ctx.settings.section(ZendeskSettings)
        if not s.configured:
            return None
        crm = ZendeskCRM(Connection(s), room_url_field_id=s.room_url_field_id)
        sv = ctx.services
        secret = s.webhook_secret.get_secret_value() if s.webhook_secret else None

        def sweep(_job: Job) -> None:
            reconcile.sweep(crm, ctx.ingest, sv.db, sv.clock)

        return PluginParts(
            crm=crm,
            routers=[inbound.router(ctx.ingest, secret, s.webhook_tolerance_seconds)],
            webhooks={inbound.PATH: "zendesk"},
            job_kinds={reconcile.KIND: JobKind(sweep)},
            scheduled=[(reconcile.KIND, s.reconcile_seconds)],
        )


plugin = ZendeskPlugin()
