"""Reading a reply: whose address it came to, whether a machine sent it, what the MTA vouched for, and the words
the person wrote (quoted history and signature stripped by mail-parser-reply, not by patterns of our own)."""

from __future__ import annotations

import email.policy
import hashlib
import re
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

import authres
from mailparser_reply import EmailReplyParser

from integrations.mailer import InboundMail
from integrations.messaging import DownloadedFile

LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "ja"]  # the "On ... wrote:" lines the parser knows
ADDRESS = re.compile(r"^case-[a-z0-9._-]+\+(?P<token>[A-Za-z0-9_-]{16,64})@(?P<domain>[^@\s]+)$", re.IGNORECASE)
# Precedence values of mail nobody typed (RFC 2076; RFC 3834 §2: never answer them).
BULK = {"bulk", "junk", "list", "auto_reply"}
AUTO_SUBJECTS = re.compile(r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|abwesenheit"
                           r"|absence|r[ée]ponse automatique)\b", re.IGNORECASE)  # fmt: skip
PARSER = EmailReplyParser(languages=LANGUAGES)


def headers(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True)
    assert isinstance(msg, EmailMessage)
    return msg


def token_of(address: str, domain: str) -> str | None:
    """The token in a reply address of ``domain``; None for any other address."""
    m = ADDRESS.match(address.strip("<> "))
    return m["token"] if m and m["domain"].lower() == domain.lower() else None


def sender(msg: EmailMessage) -> tuple[str, str]:
    """(address, name) of the From header; ('', '') when there is not exactly one."""
    found = getaddresses(msg.get_all("From", []))
    if len(found) != 1 or "@" not in found[0][1]:
        return "", ""
    name, address = found[0]
    return address.lower(), name


def automatic(msg: EmailMessage, mail_from: str) -> str:
    """Why this mail was sent by a machine (and must get no answer and no post), or '' for a person's mail."""
    if not mail_from or mail_from == "<>":
        return "a delivery report (empty envelope sender)"
    auto = str(msg.get("Auto-Submitted", "no")).split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in BULK:
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if msg.get(name):
            return name
    if msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return "mailing-list mail"
    if AUTO_SUBJECTS.match(str(msg.get("Subject", ""))):
        return "an out-of-office reply"
    return ""


def authentication(msg: EmailMessage, authserv_id: str | None) -> dict[str, str]:
    """SPF, DKIM and DMARC results from the Authentication-Results headers the trusted MTA wrote.

    Only headers naming ``authserv_id`` count: a sender can write any header into a mail, and the MTA in front
    removes look-alikes of its own (RFC 8601 §5). The first header of that id is the MTA's (it prepends)."""
    if not authserv_id:
        return {}
    for value in msg.get_all("Authentication-Results", []):
        try:
            parsed = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {value}")
        except authres.AuthResError:  # a malformed header vouches for nothing
            continue
        if str(parsed.authserv_id).lower() != authserv_id.lower():
            continue
        return {str(r.method).lower(): str(r.result).lower() for r in parsed.results
                if str(r.method).lower() in ("spf", "dkim", "dmarc")}  # fmt: skip
    return {}


def message_id(msg: EmailMessage, raw: bytes) -> str:
    found = str(msg.get("Message-ID", "")).strip()
    return found or f"<sha256.{hashlib.sha256(raw).hexdigest()}@no-message-id>"


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("style", "script", "head"):
            self.skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "blockquote"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self.skip = max(0, self.skip - 1)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def _html_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return re.sub(r"\n{3,}", "\n\n", "".join(p.parts)).strip()


def _attachment(part: EmailMessage) -> DownloadedFile:
    """An attached part as a file: its bytes decoded from their transfer encoding; a forwarded mail as a ``.eml``."""
    content = part.get_payload(decode=True)
    if not isinstance(content, bytes):  # message/rfc822: the payload is the forwarded message itself
        inner = part.get_payload()
        forwarded = inner[0] if isinstance(inner, list) and inner else part
        content = forwarded.as_bytes() if isinstance(forwarded, EmailMessage) else part.as_bytes()
        return DownloadedFile(part.get_filename() or "forwarded message.eml", "message/rfc822", content)
    return DownloadedFile(part.get_filename() or "attachment", part.get_content_type(), content)


def read(raw: bytes, token: str, auth: dict[str, str]) -> InboundMail:
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        content = body.get_content()
        text = _html_text(content) if body.get_content_type() == "text/html" else content
    replies = PARSER.read(text.replace("\r\n", "\n")).replies if text.strip() else []
    said = replies[0].body if replies else ""
    address, name = sender(msg)
    files = tuple(_attachment(part) for part in msg.iter_attachments())
    return InboundMail(token=token, sender=address, sender_name=name or parseaddr(str(msg["From"]))[0],
                       message_id=message_id(msg, raw), subject=str(msg.get("Subject", "")), text=said.strip(),
                       attachments=files, authentication=auth)  # fmt: skip
