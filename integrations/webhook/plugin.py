"""The generic webhook's callbacks as a plugin: its CRM port, the delivery and relay jobs, and the file links."""

from __future__ import annotations

from bot.models import Job
from bot.plugins import PluginContext, PluginParts
from bot.worker import JobKind
from integrations.webhook import events, links, relay
from integrations.webhook.port import WebhookCallbacks
from integrations.webhook.settings import CallbackSettings

PURGE_KIND = "callback.purge"


class CallbacksPlugin:
    name = "callbacks"  # the CRM its port serves is the generic webhook's ("webhook", the name its cases record)
    platform = None
    settings = CallbackSettings

    def build(self, ctx: PluginContext) -> PluginParts | None:
        cfg = ctx.settings.section(CallbackSettings)
        if not cfg.configured or cfg.secret is None:
            return None
        sv = ctx.services
        crm = WebhookCallbacks(sv)
        sender = events.Sender(sv, cfg)

        def relay_lines(_job: Job) -> None:
            relay.run(sv, legacy=sv.crm_named("") is crm)

        def purge(_job: Job) -> None:
            relay.purge(sv, cfg.keep_days)

        return PluginParts(
            crm=crm,
            routers=[links.router(sv.db, cfg.secret.get_secret_value())],
            job_kinds={
                events.DELIVER_KIND: JobKind(sender.deliver, on_dead=sender.undelivered),
                relay.RELAY_KIND: JobKind(relay_lines),
                PURGE_KIND: JobKind(purge),
            },
            scheduled=[(relay.RELAY_KIND, cfg.relay_seconds), (PURGE_KIND, 3600)],
        )


plugin = CallbacksPlugin()
