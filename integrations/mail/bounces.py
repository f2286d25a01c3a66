"""Answers to mail a provider's webhook refused: the sender hears why, as the SMTP listener's refusals let the
sending server tell them. (A provider's route cannot refuse inside the SMTP conversation: it took the mail
already, and a 406 only stops its retries.)

Sent with the empty return path and ``Auto-Submitted: auto-replied`` (RFC 3834), so nothing answers it in turn;
never sent for a machine's mail or a failed DMARC (the sender is not who the From says).
"""

from __future__ import annotations

import hashlib
import logging
from email.utils import parseaddr
from typing import Any

from bot.mail_members import NotConfigured
from bot.services import Services
from integrations.mail.settings import MailSettings
from integrations.mailer import MailRefused, OutboundMail

log = logging.getLogger(__name__)

KIND = "mail.bounce"


def compose(cfg: MailSettings, *, to: str, recipient: str, subject: str, message_id: str, reason: str,
            key: str) -> OutboundMail:  # fmt: skip
    """The answer to one refused mail; ``key`` makes its Message-ID, so a retried job sends the same mail."""
    subject = " ".join(subject.split())[:200]  # a folded or hostile subject is one plain line
    text = (f"Your mail to {recipient} was not posted in a case room.\n\n{reason}.\n\n"
            "This answer was written by CaseRoom; replies to it are not read.\n")  # fmt: skip
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return OutboundMail(
        to=to,
        to_name="",
        subject=f"Not delivered: {subject}" if subject else "Not delivered",
        text=text,
        message_id=f"<bounce.{digest}@{cfg.mail_domain}>",
        reply_to=parseaddr(cfg.sender)[1],
        in_reply_to=message_id or None,
        references=(message_id,) if message_id else (),
        headers={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"},
        null_return_path=True,
    )


def payload(mail: OutboundMail) -> dict[str, Any]:
    return {"mail": mail.to_payload()}


def send(sv: Services, data: dict[str, Any]) -> None:
    """The ``mail.bounce`` job. A bounce the sender's server refuses is dropped: nobody is left to tell."""
    if sv.mailer is None:
        raise NotConfigured("e-mail is not configured in this process (CASEROOM_SMTP_URL)")
    mail = OutboundMail.from_payload(data["mail"])
    try:
        sv.mailer.send(mail)
    except MailRefused as exc:
        log.info("bounce %s to %s refused by its server, dropped: %s", mail.message_id, mail.to, exc)
