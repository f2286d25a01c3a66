"""The Slack plugin: its messaging port, ``/slack/events`` through Bolt, and its inbound job."""

from __future__ import annotations

import ssl

from slack_sdk import WebClient

from bot.config import Settings
from bot.plugins import PluginContext, PluginParts, Verdict
from bot.worker import JobKind
from integrations import pacing
from integrations.slack import errors, inbound, probe, receiver, tiers
from integrations.slack.messenger import SlackMessenger
from integrations.slack.settings import SlackSettings


def web_client(s: SlackSettings, timeout: int = 30) -> WebClient:
    # slack_sdk uses urllib, which ignores REQUESTS_CA_BUNDLE: hand it the same trust explicitly.
    context = ssl.create_default_context(cafile=s.ca_bundle) if s.ca_bundle else None
    token = s.bot_token.get_secret_value() if s.bot_token else None
    return WebClient(token=token, base_url=s.api_url, ssl=context, timeout=timeout)


class SlackPlugin:
    name = "slack"
    platform = "slack"
    settings = SlackSettings

    def probe(self, settings: Settings) -> list[Verdict]:
        s = settings.section(SlackSettings)
        return [probe.bot_token(s, web_client(s, timeout=10))]

    def build(self, ctx: PluginContext) -> PluginParts | None:
        s = ctx.settings.section(SlackSettings)
        if s.bot_token is None or s.signing_secret is None:
            return None
        rates = tiers.DEFAULT_RATES if s.rate_limits is None else pacing.parse(s.rate_limits)
        calls = errors.SlackCalls(pacing.Pacer(rates), ctx.services.health)
        client = web_client(s)
        messenger = SlackMessenger(client, name_template=s.channel_template, private=s.private_channels,
                                   external_limited=s.external_limited, ca_bundle=s.ca_bundle,
                                   calls=calls)  # fmt: skip
        secret = s.signing_secret.get_secret_value()
        bolt = receiver.build_app(client, secret, ctx.ingest, ctx.services)
        return PluginParts(
            messaging=messenger,
            routers=[receiver.router(bolt, secret, ctx.settings.webhook_tolerance_seconds,
                                     now=lambda: ctx.services.clock().timestamp())],
            webhooks={receiver.PATH: "slack"},
            job_kinds={receiver.KIND: JobKind(inbound.InboundJob(messenger, ctx.queue, ctx.services.commands))},
        )


plugin = SlackPlugin()
