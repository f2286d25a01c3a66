"""The checks every way in shares (the SMTP listener, a provider's inbound webhook): whether a mail is taken,
dropped or refused, and why in words the sender can act on. A taken mail is stored with its job in one transaction.

Order matters: mail a machine sent is dropped before anything else, so no refusal (and no bounce) ever answers
an auto-reply and no mail loops; a failed DMARC is refused before the sender is compared, since the From of such a
mail is not who sent it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot import mail_members
from bot.ingest import Ingest, JobSpec
from bot.services import Services
from integrations.mail import parse
from integrations.mail.settings import MailSettings

log = logging.getLogger(__name__)

SOURCE = "mail"
INBOUND_KIND = "mail.inbound"

NO_MAILBOX = "No such mailbox here: reply to a mail from a CaseRoom case room"
UNKNOWN = "This reply address is not known: reply to a mail from the case room"
DEAD = ("This reply address is no longer in use (you left the case room, or mail to you could not be delivered): "
        "ask your engineer to invite you again")  # fmt: skip
NOT_THEIRS = "This reply address was given to someone else: reply from the address the case room wrote to"
DMARC_FAILED = "DMARC check failed for the sender's domain: the mail is not from who it says"
AUTOMATIC = "Taken and dropped: automatic mail is not posted in case rooms"
TAKEN = "Taken: it will be posted in the case room"


class Outcome(StrEnum):
    TAKEN = "taken"  # stored with its job (or a resend of a mail already stored)
    DROPPED = "dropped"  # a machine's mail: taken and never answered
    REFUSED = "refused"  # the sender should hear why (an SMTP refusal, a bounce)
    FORGED = "forged"  # refused, and nobody is answered: the From is not who sent it


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    smtp: str  # the SMTP reply code and enhanced status the listener answers with
    reason: str

    @property
    def reply(self) -> str:
        return f"{self.smtp} {self.reason}"


def delivery_id(token: str, message_id: str) -> str:
    """One delivery per (reply address, mail): the same mail sent again, by either way in, is a duplicate."""
    return hashlib.sha256(f"{token}\n{message_id.strip().lower()}".encode()).hexdigest()


async def admit(sv: Services, domain: str, address: str) -> tuple[str, mail_members.Admission | None, str]:
    """(token, admission, refusal) for a recipient address: a refusal in words, or '' when it takes mail."""
    token = parse.token_of(address, domain)
    if token is None:
        return "", None, NO_MAILBOX
    found = await asyncio.to_thread(mail_members.admission, sv, token)
    if found is None:
        return token, None, UNKNOWN
    return token, found, "" if found.live else DEAD


async def take(sv: Services, ingest: Ingest, cfg: MailSettings, raw: bytes, mail_from: str,
               recipients: Iterable[str]) -> Verdict:  # fmt: skip
    """Take one mail for its reply addresses: stored with its job for each address whose person sent it."""
    msg = parse.headers(raw)
    why = parse.automatic(msg, mail_from)
    if why:
        log.info("mail from %s dropped: %s", mail_from, why)
        return Verdict(Outcome.DROPPED, "250 2.0.0", AUTOMATIC)
    if len(raw) > cfg.mail_max_bytes:
        limit = f"{cfg.mail_max_bytes / 1024 / 1024:g} MB"
        return Verdict(Outcome.REFUSED, "552 5.3.4", f"Mail to case rooms is limited to {limit}: send large files "
                                                     f"as links, or in smaller mails")  # fmt: skip
    auth = parse.authentication(msg, cfg.mail_authserv_id)
    if auth.get("dmarc") == "fail":
        return Verdict(Outcome.FORGED, "550 5.7.1", DMARC_FAILED)
    address, _name = parse.sender(msg)
    mid = parse.message_id(msg, raw)
    refusal, taken = NOT_THEIRS, 0
    for rcpt in recipients:
        token, admission, why_not = await admit(sv, cfg.mail_domain or "", rcpt)
        if why_not or admission is None:
            refusal = why_not or refusal
            continue
        if admission.email != address:
            refusal = NOT_THEIRS
            continue
        summary = {"to": rcpt, "from": address, "message_id": mid, "size": len(raw), "authentication": auth}
        job: dict[str, Any] = {"token": token, "raw": base64.b64encode(raw).decode("ascii"), "authentication": auth}
        await ingest.accept_async(SOURCE, delivery_id(token, mid), json.dumps(summary), [JobSpec(INBOUND_KIND, job)])
        taken += 1
    if not taken:
        return Verdict(Outcome.REFUSED, "550 5.1.1" if refusal in (NO_MAILBOX, UNKNOWN, DEAD) else "550 5.7.1", refusal)
    return Verdict(Outcome.TAKEN, "250 2.0.0", TAKEN)
