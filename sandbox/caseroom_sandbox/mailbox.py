"""A local SMTP server (aiosmtpd) that keeps every mail CaseRoom sends, for `make run` and the tests.

It stands for the world's mail servers: addresses set to bounce are refused at RCPT with a 550, as a receiving
server refuses an unknown mailbox, so CaseRoom meets a hard bounce the way it would for real.
"""

from __future__ import annotations

import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from caseroom_sandbox.server import free_port


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        return str(body.get_content()).replace("\r\n", "\n") if body is not None else ""

    def __getitem__(self, header: str) -> str:
        return str(self.message.get(header, ""))


class Mailbox:
    def __init__(self) -> None:
        self._mails: list[Mail] = []
        self._bounce: dict[str, str] = {}
        self._lock = threading.Lock()
        self.controller: Controller | None = None

    # aiosmtpd's hooks
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:  # fmt: skip
        reason = self._bounce.get(address.lower())
        if reason:
            return f"550 5.1.1 {reason}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        msg = BytesParser(policy=email.policy.default).parsebytes(envelope.original_content or b"")
        assert isinstance(msg, EmailMessage)
        with self._lock:
            self._mails.append(Mail(str(envelope.mail_from), tuple(envelope.rcpt_tos), msg))
        return "250 OK: kept"

    # the sandbox's controls
    def bounce(self, address: str, reason: str = "No such user here") -> None:
        self._bounce[address.lower()] = reason

    def mails(self, to: str | None = None) -> list[Mail]:
        with self._lock:
            return [m for m in self._mails if to is None or to.lower() in (r.lower() for r in m.rcpt_tos)]

    def snapshot(self) -> list[dict[str, Any]]:
        """Every mail kept, as JSON; ``id`` is its place in :meth:`mails`, ``recipients`` the envelope's."""
        return [{"id": i, "recipients": list(m.rcpt_tos), "from": m["From"], "to": m["To"], "date": m["Date"],
                 "subject": m["Subject"], "reply_to": m["Reply-To"], "message_id": m["Message-ID"],
                 "in_reply_to": m["In-Reply-To"], "text": m.text}
                for i, m in enumerate(self.mails())]  # fmt: skip

    def start(self, host: str = "127.0.0.1", port: int | None = None) -> str:
        """Listen; the ``smtp://`` URL CaseRoom sends to (no TLS: it is local)."""
        self.controller = Controller(self, hostname=host, port=port or free_port(host), ident="sandbox-mail")
        self.controller.start()
        return f"smtp://{host}:{self.controller.port}?starttls=no"

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
