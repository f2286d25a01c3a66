"""Mailgun's inbound routing, as far as CaseRoom meets it: an MX (aiosmtpd) that takes mail for any address, and a
route whose action is ``forward()`` to a URL ending in ``mime``.

As Mailgun documents it (Receiving Messages via HTTP; Securing Webhooks), each mail is POSTed once per recipient
with ``recipient`` and ``sender`` (the SMTP envelope), ``from``, ``subject`` and ``body-mime`` (the mail as it
came), and the signature triple: ``timestamp``, ``token`` (50 random characters, new for every POST) and
``signature``, the hex HMAC-SHA256 of timestamp + token under the HTTP webhook signing key. The body is
urlencoded, or multipart/form-data when the mail has attachments. Mailgun takes 200 as done and 406 as refused
for good and retries anything else later (10 min, 15 min, 30 min, 1 h, 2 h, 4 h): here :meth:`retry` posts again,
newly signed, what was not answered 200 or 406. The MX accepts every mail, as Mailgun's does before its routes run.
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import hmac
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from caseroom_sandbox.server import free_port

FINAL = (200, 406)  # the answers Mailgun does not retry


def sign(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def new_token() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(50))


@dataclass
class Forward:
    """One mail for one recipient, and every answer the route's URL gave it."""

    recipient: str
    sender: str
    raw: bytes
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @property
    def status(self) -> int:
        return self.answers[-1][0] if self.answers else 0


class MailgunRoutes:
    def __init__(self, url: str, signing_key: str, clock: Callable[[], float] = time.time) -> None:
        if not url.endswith("mime"):
            raise ValueError("a raw MIME route forwards to a URL ending in 'mime'")
        self.url, self.key, self.clock = url, signing_key, clock
        self.forwards: list[Forward] = []
        self._lock = threading.Lock()
        self.controller: Controller | None = None

    # aiosmtpd's hooks
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:  # fmt: skip
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        for rcpt in envelope.rcpt_tos:
            fwd = Forward(rcpt, str(envelope.mail_from or ""), raw)
            with self._lock:
                self.forwards.append(fwd)
            await asyncio.to_thread(self.post, fwd)
        return "250 Great success"

    # the route
    def fields(self, fwd: Forward, *, timestamp: str | None = None, token: str | None = None) -> dict[str, str]:
        msg = BytesParser(policy=email.policy.default).parsebytes(fwd.raw, headersonly=True)
        timestamp = timestamp or str(int(self.clock()))
        token = token or new_token()
        return {"recipient": fwd.recipient, "sender": fwd.sender, "from": str(msg.get("From", "")),
                "subject": str(msg.get("Subject", "")), "body-mime": fwd.raw.decode("utf-8", "surrogateescape"),
                "timestamp": timestamp, "token": token, "signature": sign(self.key, timestamp, token)}  # fmt: skip

    def post(self, fwd: Forward) -> None:
        data = self.fields(fwd)
        msg = BytesParser(policy=email.policy.default).parsebytes(fwd.raw)
        multipart = isinstance(msg, EmailMessage) and any(True for _ in msg.iter_attachments())
        try:
            if multipart:  # each field a form part of its own, as Mailgun sends a mail with attachments
                files = {k: (None, v.encode("utf-8", "surrogateescape")) for k, v in data.items()}
                resp = httpx.post(self.url, files=files, timeout=30)
            else:
                resp = httpx.post(self.url, data=data, timeout=30)
            answer = (resp.status_code, resp.json() if resp.headers.get("content-type") == "application/json" else {})
        except httpx.HTTPError as exc:
            answer = (0, {"error": repr(exc)})
        fwd.answers.append(answer)

    def retry(self) -> int:
        """Post again, newly signed, every mail not yet answered 200 or 406 (Mailgun's retry schedule, at once)."""
        waiting = [f for f in self.forwards if f.status not in FINAL]
        for fwd in waiting:
            self.post(fwd)
        return len(waiting)

    def start(self, host: str = "127.0.0.1", port: int | None = None) -> int:
        """Take mail on ``host:port`` (the MX); the port."""
        self.controller = Controller(self, hostname=host, port=port or free_port(host), ident="sandbox-mailgun")
        self.controller.start()
        return int(self.controller.port)

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
