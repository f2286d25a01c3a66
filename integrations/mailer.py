"""The port outbound e-mail goes through: people who are in a case room by e-mail get their mail here.

Like :mod:`integrations.messaging`, the core sees only this: what a mail says and how it threads, never a
transport. An adapter raises :class:`~integrations.messaging.TransientPlatformError` for what is worth retrying
(a 4xx reply, a refused connection) and :class:`MailRefused` when the server refuses a recipient for good (a 5xx
reply to the address): the core ends that person's e-mail membership and says so in the room.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from integrations.messaging import DownloadedFile, PermanentPlatformError


class MailRefused(PermanentPlatformError):
    """The mail server refused the recipient for good (a hard bounce at submission)."""


@dataclass(frozen=True)
class OutboundMail:
    to: str  # one recipient: each person's mail carries their own reply address
    to_name: str
    subject: str
    text: str  # plain text; the adapter sends it as text/plain, UTF-8
    message_id: str  # ``<...@domain>``: CaseRoom's own, so a retried send is the same mail
    reply_to: str  # the person's reply address for this case (it carries their token)
    in_reply_to: str | None = None  # the thread's first mail: one thread per case in the person's mail reader
    references: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # e.g. Auto-Submitted, List-Unsubscribe
    # An answer to mail that could not be taken (a bounce): sent with the empty return path (RFC 3834 §4,
    # RFC 5321 §4.5.5), so nothing ever answers it in turn.
    null_return_path: bool = False

    def to_payload(self) -> dict[str, Any]:
        """As a job payload (JSON): a send job carries the whole mail, so its retries send the same one."""
        return asdict(self)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> OutboundMail:
        fields = dict(data)
        fields["references"] = tuple(fields.get("references") or ())  # JSON gave a list
        return cls(**fields)


@runtime_checkable
class MailerPort(Protocol):
    """Outbound mail, as the core needs it. Synchronous: it runs inside a job."""

    def send(self, mail: OutboundMail) -> None: ...

    def reply_address(self, case_number: str, token: str) -> str:
        """The address replies reach CaseRoom at: unique to (case, person) through ``token``."""
        ...

    def thread_id(self, case_number: str, person_key: str) -> str:
        """The Message-ID of a person's first mail about a case, which every later one refers to."""
        ...


@dataclass(frozen=True)
class InboundMail:
    """A reply that reached a person's reply address, read by the adapter that took it in."""

    token: str  # from the address it was sent to
    sender: str  # the From address, lower case
    sender_name: str
    message_id: str  # the mail's own Message-ID: its key on the timeline
    subject: str
    text: str  # the reply alone: quoted history and signature stripped
    attachments: tuple[DownloadedFile, ...] = ()  # the files attached, as sent (names untrusted)
    authentication: dict[str, str] = field(default_factory=dict)  # spf/dkim/dmarc -> result, from a trusted MTA
