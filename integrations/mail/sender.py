"""Outbound mail over SMTP through aiosmtplib: the :class:`~integrations.mailer.MailerPort` of this deployment."""

from __future__ import annotations

import asyncio
import logging
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

import aiosmtplib

from bot.models import utcnow
from integrations.mail.settings import MailSettings
from integrations.mailer import MailRefused, OutboundMail
from integrations.messaging import PermanentPlatformError, TransientPlatformError

log = logging.getLogger(__name__)


class SmtpMailer:
    def __init__(self, cfg: MailSettings) -> None:
        self.cfg = cfg
        self.server = cfg.server
        self.domain = cfg.mail_domain or ""

    def reply_address(self, case_number: str, token: str) -> str:
        # Plus addressing: whatever reaches case-...@domain reaches the listener, and the token picks the person.
        local = "".join(c if c.isalnum() or c in "-_." else "-" for c in case_number.lower())
        return f"case-{local}+{token}@{self.domain}"

    def thread_id(self, case_number: str, person_key: str) -> str:
        local = "".join(c if c.isalnum() else "-" for c in case_number.lower())
        return f"<case-{local}.{person_key}@{self.domain}>"

    def render(self, mail: OutboundMail) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.cfg.sender
        msg["To"] = formataddr((mail.to_name, mail.to)) if mail.to_name else mail.to
        msg["Reply-To"] = mail.reply_to
        msg["Subject"] = mail.subject
        msg["Date"] = format_datetime(utcnow())
        msg["Message-ID"] = mail.message_id
        if mail.in_reply_to:
            msg["In-Reply-To"] = mail.in_reply_to
        if mail.references:
            msg["References"] = " ".join(mail.references)
        for name, value in mail.headers.items():
            msg[name] = value
        msg.set_content(mail.text, charset="utf-8")
        return msg

    def send(self, mail: OutboundMail) -> None:
        try:
            asyncio.run(self._send(self.render(mail), mail.to, "" if mail.null_return_path else None))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            if refusal.code >= 500:
                raise MailRefused(f"{refusal.code} {refusal.message}") from exc  # the receiving server's own words
            raise TransientPlatformError(f"{mail.to}: {refusal.code} {refusal.message}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            # A 5xx that is not about the recipient (our sender, our credentials, the content) is ours to mend: a
            # dead letter to replay once it is, not the end of the person's membership.
            if exc.code >= 500:
                refused = f"the mail server refused the mail to {mail.to}: {exc.code} {exc.message}"
                raise PermanentPlatformError(refused) from exc
            raise TransientPlatformError(f"SMTP {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # connection refused, timeout, TLS: try again later
            raise TransientPlatformError(f"SMTP server {self.server.host}:{self.server.port}: {exc}") from exc
        log.info("mail %s sent to %s", mail.message_id, mail.to)

    async def _send(self, msg: EmailMessage, to: str, return_path: str | None) -> None:
        srv = self.server
        context = ssl.create_default_context(cafile=self.cfg.ca_bundle) if srv.starttls is not False else None
        await aiosmtplib.send(
            msg,
            sender=parseaddr(self.cfg.sender)[1] if return_path is None else return_path,
            recipients=[to],
            hostname=srv.host,
            port=srv.port,
            username=srv.username,
            password=srv.password,
            use_tls=srv.implicit_tls,
            start_tls=False if srv.implicit_tls else srv.starttls,
            tls_context=context,
            timeout=self.cfg.mail_timeout_seconds,
        )
