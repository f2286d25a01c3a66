"""The embedded SMTP listener (aiosmtpd): replies come in over SMTP, each checked before a byte is accepted.

Refusals happen inside the SMTP conversation, so the sending server writes the bounce with our reason in it and
nothing is stored: an unknown or dead reply address at RCPT (550 5.1.1), oversized mail at DATA (552, and SIZE is
advertised so a client can tell before sending), a sender who is not the address's person or a failed DMARC at
DATA (550 5.7.1). Mail a machine sent (auto-replies, bulk, delivery reports) is taken and dropped, never answered,
so no mail loops. A taken mail is stored with its job in one transaction before the 250, so an acknowledged mail
is never lost and a resent one (same Message-ID) posts nothing new. The checks are :mod:`integrations.mail.intake`'s,
shared with the e-mail provider's inbound webhook.
"""

from __future__ import annotations

import logging

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.ingest import Ingest
from bot.services import Services
from integrations.mail import intake
from integrations.mail.settings import MailSettings

log = logging.getLogger(__name__)


class ReplyHandler:
    """aiosmtpd's handler: its ``handle_RCPT`` and ``handle_DATA`` hooks answer each step of the conversation."""

    def __init__(self, sv: Services, ingest: Ingest, cfg: MailSettings) -> None:
        self.sv, self.ingest, self.cfg = sv, ingest, cfg
        self.domain = cfg.mail_domain or ""

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:  # fmt: skip
        _token, _admission, refusal = await intake.admit(self.sv, self.domain, address)
        if refusal:
            return f"550 5.1.1 {refusal}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        verdict = await intake.take(self.sv, self.ingest, self.cfg, raw, str(envelope.mail_from or ""),
                                    envelope.rcpt_tos)  # fmt: skip
        return verdict.reply

    async def handle_exception(self, error: Exception) -> str:
        """aiosmtpd's hook for what a step raised (the database unreachable, say): a temporary refusal, so the
        sending server keeps the mail and tries again, instead of aiosmtpd's default permanent 500."""
        log.error("SMTP listener could not take a mail: %r", error, exc_info=error)
        return "451 4.3.0 CaseRoom cannot take mail just now: your server will try again"


class SmtpListener:
    """The listener's lifetime: started and stopped with the workers."""

    def __init__(self, handler: ReplyHandler, host: str, port: int, max_bytes: int) -> None:
        self.controller = Controller(handler, hostname=host, port=port, data_size_limit=max_bytes,
                                     server_hostname=handler.domain, ident="CaseRoom")  # fmt: skip
        self.host, self.port = host, port
        self.running = False

    def start(self) -> None:
        self.controller.start()
        self.running = True
        log.info("SMTP listener on %s:%s takes replies to case rooms", self.host, self.port)

    def stop(self) -> None:
        if self.running:  # a runtime that never started its background work stops it all the same
            self.controller.stop()
            self.running = False
