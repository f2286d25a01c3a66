"""The embedded SMTP listener (aiosmtpd): replies come in over SMTP, each checked before a byte is accepted.

Refusals happen inside the SMTP conversation, so the sending server writes the bounce with our reason in it and
nothing is stored: an unknown or dead reply address at RCPT (550 5.1.1), oversized mail at DATA (552, and SIZE is
advertised so a client can tell before sending), a sender who is not the address's person or a failed DMARC at
DATA (550 5.7.1). Mail a machine sent (auto-replies, bulk, delivery reports) is taken and dropped, never answered,
so no mail loops. A taken mail is stored with its job in one transaction before the 250, so an acknowledged mail
is never lost and a resent one (same Message-ID) posts nothing new.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot import mail_members
from bot.ingest import Ingest, JobSpec
from bot.services import Services
from integrations.mail import parse
from integrations.mail.settings import MailSettings

log = logging.getLogger(__name__)

SOURCE = "mail"
INBOUND_KIND = "mail.inbound"


def delivery_id(token: str, message_id: str) -> str:
    """One delivery per (reply address, mail): the same mail sent again is a duplicate."""
    return hashlib.sha256(f"{token}\n{message_id.strip().lower()}".encode()).hexdigest()


class ReplyHandler:
    """aiosmtpd's handler: its ``handle_RCPT`` and ``handle_DATA`` hooks answer each step of the conversation."""

    def __init__(self, sv: Services, ingest: Ingest, cfg: MailSettings) -> None:
        self.sv, self.ingest, self.cfg = sv, ingest, cfg
        self.domain = cfg.mail_domain or ""

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:  # fmt: skip
        token = parse.token_of(address, self.domain)
        if token is None:
            return "550 5.1.1 No such mailbox here: reply to a mail from a CaseRoom case room"
        admission = await asyncio.to_thread(mail_members.admission, self.sv, token)
        if admission is None:
            return "550 5.1.1 This reply address is not known: reply to a mail from the case room"
        if not admission.live:
            return ("550 5.1.1 This reply address is no longer in use (you left the case room, or mail to you "
                    "could not be delivered): ask your engineer to invite you again")  # fmt: skip
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = parse.headers(raw)
        why = parse.automatic(msg, str(envelope.mail_from or ""))
        if why:
            log.info("mail from %s dropped: %s", envelope.mail_from, why)
            return "250 2.0.0 Taken and dropped: automatic mail is not posted in case rooms"
        auth = parse.authentication(msg, self.cfg.mail_authserv_id)
        if auth.get("dmarc") == "fail":
            return "550 5.7.1 DMARC check failed for the sender's domain: the mail is not from who it says"
        address, _name = parse.sender(msg)
        mid = parse.message_id(msg, raw)
        taken = 0
        for rcpt in envelope.rcpt_tos:
            token = parse.token_of(rcpt, self.domain)
            assert token is not None  # handle_RCPT took only such addresses
            admission = await asyncio.to_thread(mail_members.admission, self.sv, token)
            if admission is None or admission.email != address:
                continue
            summary = {"to": rcpt, "from": address, "message_id": mid, "size": len(raw), "authentication": auth}
            job: dict[str, Any] = {"token": token, "raw": base64.b64encode(raw).decode("ascii"), "authentication": auth}
            await self.ingest.accept_async(SOURCE, delivery_id(token, mid), json.dumps(summary),
                                           [JobSpec(INBOUND_KIND, job)])  # fmt: skip
            taken += 1
        if not taken:
            return ("550 5.7.1 This reply address was given to someone else: reply from the address the case room "
                    "wrote to")  # fmt: skip
        return "250 2.0.0 Taken: it will be posted in the case room"


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
