"""A running CaseRoom on Webex with e-mail participants: its SMTP listener on a real TCP port, and a sandbox
mail server (aiosmtpd) that keeps what CaseRoom sends, for end-to-end tests of mail in and out."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from caseroom_sandbox.mailbox import Mail, Mailbox
from caseroom_sandbox.mailgun import MailgunRoutes

from integrations.mail import mailgun
from integrations.mail.plugin import plugin as mail_plugin
from tests.slack_world import slack_world
from tests.support import free_port
from tests.webex_world import webex_world

DOMAIN = "reply.caseroom.example"
AUTHSERV = "mx.caseroom.example"  # the MTA in front whose Authentication-Results CaseRoom believes
CAROL = "carol@customer.example"
SIGNING_KEY = "key-sandbox-mailgun-signing"


@dataclass
class MailWorld:
    w: Any  # a WebexWorld, or a SlackWorld
    mailbox: Mailbox
    listen_port: int
    routes: MailgunRoutes | None = None  # with ``mailgun``: Mailgun's MX, forwarding to CaseRoom's webhook

    def mails(self, to: str = CAROL) -> list[Mail]:
        return self.mailbox.mails(to)

    def reply_address(self, to: str = CAROL) -> str:
        """The reply address CaseRoom's last mail to ``to`` gave them."""
        return self.mails(to)[-1]["Reply-To"]

    def send(self, text: str, *, sender: str = CAROL, to: str | None = None, message_id: str | None = None,
             headers: dict[str, str] | None = None, envelope_from: str | None = None,
             attachments: tuple[tuple[str, bytes], ...] = (), via_mailgun: bool = False) -> str:  # fmt: skip
        """Reply as ``sender`` over SMTP to CaseRoom's listener (or, ``via_mailgun``, to Mailgun's MX, whose route
        forwards it to CaseRoom's webhook); the Message-ID sent. Refusals raise smtplib's."""
        msg = EmailMessage()
        msg["From"] = f"Carol Customer <{sender}>" if sender == CAROL else sender
        msg["To"] = to or self.reply_address()
        msg["Subject"] = "Re: your case"
        msg["Message-ID"] = message_id or make_msgid(domain="customer.example")
        for name, value in (headers or {}).items():
            del msg[name]
            msg[name] = value
        msg.set_content(text)
        for name, content in attachments:
            msg.add_attachment(content, maintype="application", subtype="octet-stream", filename=name)
        port = self.listen_port
        if via_mailgun:
            assert self.routes is not None and self.routes.controller is not None
            port = self.routes.controller.port
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(msg, from_addr=sender if envelope_from is None else envelope_from,
                              to_addrs=[str(msg["To"])])  # fmt: skip
        return str(msg["Message-ID"])


@contextmanager
def mail_world(tmp_path: Path, *, slack: bool = False, mailgun_route: bool = False,
               **overrides: Any) -> Iterator[MailWorld]:  # fmt: skip
    """CaseRoom with the mail plugin, its rooms in the Webex emulator (or, with ``slack``, the Slack emulator with
    Slack Connect refused, so Carol takes part by e-mail there too), its mail to the sandbox's mailbox; with
    ``mailgun_route``, also Mailgun's inbound route to its webhook (on Webex)."""
    mailbox = Mailbox()
    smtp_url = mailbox.start()
    port = free_port()
    values = {
        "CASEROOM_SMTP_URL": smtp_url,
        "CASEROOM_MAIL_DOMAIN": DOMAIN,
        "CASEROOM_MAIL_LISTEN": f"127.0.0.1:{port}",
        "CASEROOM_MAIL_AUTHSERV_ID": AUTHSERV,
        "CASEROOM_JOB_BACKOFF_BASE_SECONDS": 0.05,
        **({"CASEROOM_MAILGUN_SIGNING_KEY": SIGNING_KEY} if mailgun_route else {}),
        **overrides,
    }
    try:
        if slack:
            with slack_world(tmp_path, connect_enabled=False, plugins=(mail_plugin,), **values) as sw:
                yield MailWorld(sw, mailbox, port)
        else:
            with webex_world(tmp_path, plugins=(mail_plugin,), **values) as w:
                if not mailgun_route:
                    yield MailWorld(w, mailbox, port)
                    return
                routes = MailgunRoutes(w.url + mailgun.PATH, SIGNING_KEY,
                                       clock=lambda: w.rt.services.clock().timestamp())  # fmt: skip
                routes.start()
                try:
                    yield MailWorld(w, mailbox, port, routes)
                finally:
                    routes.stop()
    finally:
        mailbox.stop()
