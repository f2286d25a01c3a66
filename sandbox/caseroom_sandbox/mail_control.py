"""The sandbox mailbox's control API: the mail CaseRoom sent, and its recipients' replies.

It stands for the mail clients of the people CaseRoom writes to, and for the internet's MX lookup:

- ``GET /_sandbox/state``: every mail the mailbox kept (:meth:`Mailbox.snapshot`) and every reply sent;
- ``POST /_sandbox/act/reply`` ``{"mail": id, "text": ..., "as": address?}``: answer a kept mail as its recipient
  would from a mail client (their text on top, the mail quoted below, ``In-Reply-To``/``References`` set) and hand
  it over SMTP to the server that takes mail for the reply address's domain (in `make run`, CaseRoom's own
  listener). 200 with the server's answer; 422 with its refusal (e.g. ``550 5.1.1 ...``); 502 when it cannot be
  reached; 404 for an unknown mail;
- ``POST /_sandbox/bounce`` ``{"address": ..., "reason"?: ...}``: mail to the address bounces from now on.
"""

from __future__ import annotations

import smtplib
import threading
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid, parseaddr
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from caseroom_sandbox.mailbox import Mail, Mailbox


class Refused(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status


def compose_reply(mail: Mail, person: str, text: str) -> EmailMessage:
    """What ``person``'s mail client sends when they answer ``mail`` with ``text``."""
    names = {address.lower(): name for name, address in getaddresses([mail["To"]])}
    reply = EmailMessage()
    reply["From"] = f"{names[person.lower()]} <{person}>" if names.get(person.lower()) else person
    reply["To"] = mail["Reply-To"] or mail["From"]
    subject = mail["Subject"]
    reply["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    reply["Date"] = formatdate()
    reply["Message-ID"] = make_msgid(domain=person.rsplit("@", 1)[-1])
    if mail["Message-ID"]:
        reply["In-Reply-To"] = mail["Message-ID"]
        reply["References"] = " ".join(r for r in (mail["References"], mail["Message-ID"]) if r)
    quoted = "\n".join(f"> {line}".rstrip() for line in mail.text.splitlines())
    reply.set_content(f"{text}\n\nOn {mail['Date'] or 'an earlier day'}, {mail['From']} wrote:\n{quoted}\n")
    return reply


class MailControl:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.exchangers: dict[str, tuple[str, int]] = {}  # domain -> the SMTP server that takes its mail
        self.replies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/_sandbox/state", self.state, methods=["GET"]),
                Route("/_sandbox/act/reply", self.act_reply, methods=["POST"]),
                Route("/_sandbox/bounce", self.bounce, methods=["POST"]),
            ]
        )

    def route(self, domain: str, host: str, port: int) -> None:
        """Mail to ``domain`` goes to ``host:port`` (its MX, as DNS would say)."""
        self.exchangers[domain.lower()] = (host, port)

    def reply(self, mail_id: int, text: str, person: str | None = None) -> dict[str, Any]:
        """Send the reply; what was sent and the server's answer (raises :class:`Refused`)."""
        mails = self.mailbox.mails()
        if not 0 <= mail_id < len(mails):
            raise Refused(404, f"no mail {mail_id}")
        mail = mails[mail_id]
        person = person or mail.rcpt_tos[0]
        msg = compose_reply(mail, person, text)
        to = parseaddr(str(msg["To"]))[1]
        where = self.exchangers.get(to.rsplit("@", 1)[-1].lower())
        if where is None:
            raise Refused(422, f"no mail server takes mail for {to}")
        try:
            with smtplib.SMTP(*where, timeout=10) as smtp:
                smtp.send_message(msg, from_addr=person, to_addrs=[to])
            answer = "250 accepted"
        except smtplib.SMTPRecipientsRefused as exc:
            code, why = next(iter(exc.recipients.values()))
            answer = f"{code} {_text(why)}"
        except smtplib.SMTPResponseException as exc:
            answer = f"{exc.smtp_code} {_text(exc.smtp_error)}"
        except (OSError, smtplib.SMTPException) as exc:
            raise Refused(502, f"{to}'s mail server at {where[0]}:{where[1]} cannot be reached: {exc}") from None
        sent = {"mail": mail_id, "from": person, "to": to, "subject": str(msg["Subject"]),
                "message_id": str(msg["Message-ID"]), "text": text, "answer": answer}  # fmt: skip
        with self._lock:
            self.replies.append(sent)
        if not answer.startswith("250"):
            raise Refused(422, answer)
        return sent

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"mails": self.mailbox.snapshot(), "replies": list(self.replies), "domains": sorted(self.exchangers)}

    # the HTTP side
    async def state(self, request: Request) -> JSONResponse:
        return JSONResponse(self.snapshot())

    async def act_reply(self, request: Request) -> JSONResponse:
        body = await _json(request)
        mail_id, text, person = body.get("mail"), body.get("text"), body.get("as")
        if not isinstance(mail_id, int) or not isinstance(text, str) or not text.strip():
            return JSONResponse({"error": "mail (an id from /_sandbox/state) and text are required"}, 400)
        if person is not None and not isinstance(person, str):
            return JSONResponse({"error": "as must be an e-mail address"}, 400)
        try:
            sent = await run_in_threadpool(self.reply, mail_id, text, person)
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        return JSONResponse(sent)

    async def bounce(self, request: Request) -> JSONResponse:
        body = await _json(request)
        address = body.get("address")
        if not isinstance(address, str) or "@" not in address:
            return JSONResponse({"error": "address is required"}, 400)
        self.mailbox.bounce(address, str(body.get("reason") or "No such user here"))
        return JSONResponse({"ok": True})


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
