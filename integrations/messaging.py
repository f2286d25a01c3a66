"""The port every chat platform implements.

The core (``bot/``) sees chat platforms only through this module. Everything here is
platform-neutral: no Slack block, no Webex card, no platform error code leaks through.

Contract that adapters honour, because the core relies on it for exactly-once effects:

* ``ensure_room`` is find-or-create keyed by ``RoomSpec.key``: calling it again after a crash
  (room created on the platform, id never stored) returns the same room, never a second one.
* ``add_member`` treats "already a member" as success (``MemberOutcome.ALREADY``).
* ``post`` receives *plain text*: the adapter escapes it for its platform so that no untrusted
  string can mention ``@all``/``<!channel>`` or inject markup.
* Transient failures (rate limits, 5xx, timeouts) raise :class:`TransientPlatformError` with the
  platform's ``Retry-After`` when it gave one; permanent refusals raise
  :class:`PermanentPlatformError`. The job queue turns these into backoff or a dead letter.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from integrations.failures import Permanent


class PlatformError(Exception):
    """Base of every error an adapter raises on purpose."""


class TransientPlatformError(PlatformError):
    """Worth retrying later (429, 5xx, timeouts, a file still being virus-scanned)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentPlatformError(PlatformError, Permanent):
    """Retrying will not help (refused, not found, infected file, invalid name)."""


@dataclass(frozen=True)
class RoomSpec:
    """What the core asks for; the adapter decides the platform-specific name and rules."""

    key: str  # stable identity, the case number: the adapter derives the room name from it
    title: str  # human title: "Case 00001234: <subject>" (untrusted parts unescaped)
    topic: str  # case subject (untrusted, unescaped)
    crm_link: str | None = None  # link to the CRM record, pinned/bookmarked where the platform can
    # True when no earlier attempt can have created this room (nothing was sent before), so an adapter may
    # skip looking for one it lost track of in a crash; that search is a call on the opening's critical path.
    fresh: bool = False


@dataclass(frozen=True)
class RoomRef:
    """A room as the core keeps it.

    ``room_id`` is opaque to the core: it stores it (one case per platform and room id) and hands it back to every
    call, and the platform's events name their room by it. A platform that needs more than one id to reach a
    conversation again (a Microsoft Teams conversation: a service URL, a conversation id) puts all of it in the
    room id, so its events, which carry the same parts, name the room the same way.
    """

    platform: str  # the plugin's platform name
    room_id: str
    url: str  # where a person's browser/app opens the room (behind /rooms/{case_number})
    name: str = ""


class MemberOutcome(enum.StrEnum):
    ADDED = "added"  # now a member
    ALREADY = "already"  # was a member already
    INVITED = "invited"  # an invitation went out (unknown e-mail, Slack Connect)
    REFUSED = "refused"  # the platform would not; ``reason`` says why in words for people


@dataclass(frozen=True)
class MemberResult:
    outcome: MemberOutcome
    reason: str = ""
    member_id: str = ""  # platform id of the person (or of the invitation)


@dataclass(frozen=True)
class Member:
    member_id: str
    email: str
    name: str
    is_bot: bool = False


@dataclass(frozen=True)
class FileRef:
    file_id: str
    name: str
    size: int | None = None
    mime: str | None = None
    # Why the platform withholds the file for good ("quarantined as infected", ...); such a file is announced as
    # blocked and never filed. Empty for a file that can be downloaded.
    blocked: str = ""


@dataclass(frozen=True)
class DownloadedFile:
    name: str
    mime: str
    content: bytes


@dataclass(frozen=True)
class PostedFiles:
    """Files the bot posted in a room (a reply by e-mail with attachments), as the platform keeps them."""

    # The ids of the messages that carry the text and the files, as far as the platform tells at once: Slack
    # shares uploaded files asynchronously, so the message holding them is not known yet (``files`` name it).
    message_ids: tuple[str, ...]
    files: tuple[FileRef, ...]


@dataclass(frozen=True)
class HistoryMessage:
    message_id: str
    author_id: str
    author_email: str
    author_name: str
    text: str
    created: datetime  # timezone-aware UTC
    parent_id: str | None = None  # thread parent
    edited: datetime | None = None
    deleted: bool = False
    files: tuple[FileRef, ...] = ()


@dataclass(frozen=True)
class Visibility:
    """What the adapter can and cannot see; shown in /case status and transcripts."""

    sees_all_messages: bool = True
    limitation: str = ""


@dataclass(frozen=True)
class Card:
    """A titled block of facts (handoff card, status). Adapters render it natively."""

    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    footer: str = ""

    def as_text(self) -> str:
        lines = [self.title, *(f"{k}: {v}" for k, v in self.fields)]
        if self.footer:
            lines.append(self.footer)
        return "\n".join(lines)


CANCELLED = "Cancelled: nothing was changed."  # the answer to a Cancel button, on every platform


@dataclass(frozen=True)
class Confirmation:
    """A destructive command waiting for its asker's "yes": buttons only the asker sees.

    Pressing *Confirm* sends ``command`` back as a new command request from whoever pressed, marked confirmed,
    so the press meets the same permission checks as the command did.
    """

    prompt: str
    command: str  # the ``/case`` text to run once confirmed
    room_id: str  # the case room the command is about


@runtime_checkable
class MessagingPort(Protocol):
    """A chat platform, as the core needs it. Every call is synchronous and runs inside a job."""

    platform: str

    def ensure_room(self, spec: RoomSpec) -> RoomRef:
        """Create the room (or find the one an interrupted attempt made): only what everything else needs."""
        ...

    def prepare_room(self, room_id: str, spec: RoomSpec) -> None:
        """Dress a new room (topic, bookmark, a compliance observer...). Idempotent; runs alongside the
        invitations, so it must not be needed by them."""
        ...

    def room_link(self, room_id: str) -> str: ...

    def add_member(self, room_id: str, email: str, *, external: bool = False) -> MemberResult: ...

    def remove_member(self, room_id: str, member_id: str) -> None: ...

    def list_members(self, room_id: str) -> list[Member]: ...

    def post(self, room_id: str, text: str, *, thread_id: str | None = None) -> str: ...

    def post_card(self, room_id: str, card: Card) -> str: ...

    def post_files(self, room_id: str, text: str, files: Sequence[DownloadedFile]) -> PostedFiles:
        """Post ``text`` (plain, escaped like :meth:`post`) with ``files`` attached, as the bot."""
        ...

    def reply_private(self, room_id: str, user_id: str, text: str, *, reply_token: str | None = None) -> None:
        """Answer one person only (Slack: ephemeral or ``response_url``; Webex: a direct message)."""
        ...

    def ask_confirmation(self, room_id: str, user_id: str, confirmation: Confirmation, *,
                         reply_token: str | None = None) -> bool:  # fmt: skip
        """Show the asker Confirm/Cancel buttons (Slack: Block Kit; Webex: an adaptive card). ``False``: this
        platform or set-up cannot take button presses, and the command runs without asking."""
        ...

    def history(self, room_id: str) -> Iterator[HistoryMessage]: ...

    def download_file(self, file: FileRef) -> DownloadedFile: ...

    def archive(self, room_id: str) -> None: ...

    def visibility(self) -> Visibility: ...
