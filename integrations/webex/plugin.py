"""The Webex plugin: its messaging port, its webhook route and its notification job."""

from __future__ import annotations

from bot.config import Settings
from bot.plugins import PluginContext, PluginParts, Verdict
from bot.worker import JobKind
from integrations import pacing
from integrations.webex import errors, inbound, probe
from integrations.webex.client import api
from integrations.webex.messenger import WebexMessenger
from integrations.webex.notifications import NotificationJob
from integrations.webex.settings import WebexSettings


class WebexPlugin:
    name = "webex"
    platform = "webex"
    settings = WebexSettings
    quiet_loggers = ("webexpythonsdk",)  # its User-Agent, at INFO, for every client built

    def probe(self, settings: Settings) -> list[Verdict]:
        return probe.tokens(settings.section(WebexSettings))

    def build(self, ctx: PluginContext) -> PluginParts | None:
        s = ctx.settings.section(WebexSettings)
        if s.access_token is None:
            return None
        calls = errors.WebexCalls(pacing.Pacer(pacing.parse(s.rate_limits)), ctx.services.health)
        observer = api(s.observer_token.get_secret_value(), s.base_url) if s.observer_token else None
        messenger = WebexMessenger(api(s.access_token.get_secret_value(), s.base_url), observer, s.space_link,
                                   calls)  # fmt: skip
        secret = s.webhook_secret.get_secret_value() if s.webhook_secret else None
        return PluginParts(
            messaging=messenger,
            routers=[inbound.router(ctx.ingest, secret)],
            webhooks={inbound.PATH: "webex"},
            job_kinds={inbound.KIND: JobKind(NotificationJob(messenger, ctx.queue, ctx.services.commands))},
        )


plugin = WebexPlugin()
