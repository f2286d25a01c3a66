"""E-mail participants as a plugin: the SMTP mailer (the core's :class:`~integrations.mailer.MailerPort`), the
embedded SMTP listener, and the job that reads each reply taken in and hands it to the core."""

from __future__ import annotations

import base64

from bot import mail_digest, mail_members
from bot.models import Job
from bot.plugins import Listener, PluginContext, PluginParts
from bot.worker import JobKind
from integrations.mail import bounces, downloads, mailgun, parse
from integrations.mail.intake import INBOUND_KIND
from integrations.mail.listener import ReplyHandler, SmtpListener
from integrations.mail.sender import SmtpMailer
from integrations.mail.settings import MailSettings


class MailPlugin:
    name = "mail"
    platform = None
    settings = MailSettings
    quiet_loggers = ("mail.log",)  # aiosmtpd's per-connection lines

    def build(self, ctx: PluginContext) -> PluginParts | None:
        cfg = ctx.settings.section(MailSettings)
        if not cfg.configured:
            return None
        sv = ctx.services

        def inbound(job: Job) -> None:
            raw = base64.b64decode(job.payload["raw"])
            mail = parse.read(raw, job.payload["token"], dict(job.payload.get("authentication") or {}))
            mail_members.receive(sv, mail)

        timing = mail_digest.Timing(cfg.mail_digest_seconds, cfg.mail_prompt_seconds)
        sweep_every = min(cfg.mail_digest_seconds, cfg.mail_prompt_seconds)

        def sweep(job: Job) -> None:
            mail_digest.sweep(sv, timing)

        listeners: list[Listener] = []
        if cfg.listen is not None:
            host, port = cfg.listen
            listeners.append(SmtpListener(ReplyHandler(sv, ctx.ingest, cfg), host, port, cfg.mail_max_bytes))
        kinds = {INBOUND_KIND: JobKind(inbound), mail_digest.SWEEP_KIND: JobKind(sweep),
                 bounces.KIND: JobKind(lambda job: bounces.send(sv, job.payload))}  # fmt: skip
        parts = PluginParts(mailer=SmtpMailer(cfg), listeners=listeners, job_kinds=kinds,
                            routers=[downloads.router(sv)], scheduled=[(mail_digest.SWEEP_KIND, sweep_every)])
        if cfg.mailgun_signing_key is not None:
            # Read through sv.clock on every request, so a test that sets the clock is obeyed.
            parts.routers.append(mailgun.router(sv, ctx.ingest, cfg, cfg.mailgun_signing_key.get_secret_value(),
                                                ctx.settings.webhook_tolerance_seconds,
                                                now=lambda: sv.clock().timestamp()))  # fmt: skip
            parts.webhooks[mailgun.PATH] = mailgun.SOURCE
            parts.body_limits[mailgun.PATH] = mailgun.body_limit(cfg)
        return parts


plugin = MailPlugin()
