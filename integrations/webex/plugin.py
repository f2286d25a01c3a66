"""The Webex plugin: its messaging port, its webhook route and its notification job."""

from __future__ import annotations

from bot.plugins import PluginContext, PluginParts
from bot.worker import JobKind
from integrations import pacing
from integrations.webex import errors, inbound
from integrations.webex.client import api
from integrations.webex.messenger import WebexMessenger
from integrations.webex.notifications import NotificationJob


class WebexPlugin:
    name = "webex"

    def build(self, ctx: PluginContext) -> PluginParts | None:
        s = ctx.settings
        if s.webex_access_token is None:
            return None
        calls = errors.WebexCalls(pacing.Pacer(pacing.parse(s.webex_rate_limits)), ctx.services.health)
        observer = api(s.webex_observer_token.get_secret_value(), s) if s.webex_observer_token else None
        messenger = WebexMessenger(api(s.webex_access_token.get_secret_value(), s), observer, s.webex_space_link,
                                   calls)  # fmt: skip
        secret = s.webex_webhook_secret.get_secret_value() if s.webex_webhook_secret else None
        return PluginParts(
            messaging=messenger,
            routers=[inbound.router(ctx.ingest, secret)],
            job_kinds={inbound.KIND: JobKind(NotificationJob(messenger, ctx.queue, ctx.services.commands))},
        )


plugin = WebexPlugin()
