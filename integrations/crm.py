"""The port every CRM implements.

The core reads cases and writes results back only through this module. Transient failures raise
:class:`TransientCRMError` (with ``retry_after`` when known) so the job queue backs off; anything
the CRM refuses for good raises :class:`PermanentCRMError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from integrations.failures import Permanent


class CRMError(Exception):
    """Base of every error a CRM adapter raises on purpose."""


class TransientCRMError(CRMError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentCRMError(CRMError, Permanent):
    pass


@dataclass(frozen=True)
class Person:
    email: str
    name: str = ""
    timezone: str | None = None  # IANA name, e.g. "Europe/Amsterdam"


@dataclass(frozen=True)
class CaseSnapshot:
    """The case as the CRM says it is now (or as the event carried it)."""

    crm_id: str
    number: str
    subject: str
    description: str = ""
    status: str = ""
    priority: str = ""
    is_closed: bool = False
    customer: Person | None = None
    engineer: Person | None = None  # None while a queue owns the case
    platform: str | None = None  # "webex" | "slack" | None for the default
    owner_id: str = ""  # the CRM's owner id (user or queue)
    modified_at: datetime | None = None
    link: str | None = None  # the case in the CRM's own UI


@runtime_checkable
class CRMPort(Protocol):
    name: str
    comment_bytes: int  # the longest comment the CRM takes, in UTF-8 bytes; longer texts go as numbered parts

    def read_case(self, crm_id: str) -> CaseSnapshot | None:
        """Re-read the case before acting (payloads can be stale). ``None``: no such case."""
        ...

    def write_room_url(self, crm_id: str, url: str) -> None: ...

    def add_comment(self, crm_id: str, text: str) -> None:
        """One internal comment; a text over ``comment_bytes`` is filed as the parts of :func:`comment_parts`."""
        ...

    def attach_file(self, crm_id: str, name: str, content: bytes, mime: str) -> str:
        """Attach bytes to the case; returns the CRM's id (or link) of the stored copy."""
        ...


def split_bytes(text: str, limit: int) -> list[str]:
    """Split into pieces of at most ``limit`` UTF-8 bytes, on line or word breaks where possible."""
    pieces: list[str] = []
    rest = text
    while len(rest.encode()) > limit:
        cut = len(rest.encode()[:limit].decode(errors="ignore"))  # never split a character
        space = max(rest.rfind("\n", 0, cut), rest.rfind(" ", 0, cut))
        if space > cut // 2:
            cut = space + 1
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:]
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces


PART_MARK = 16  # room for "(999/999) "


def comment_parts(text: str, limit: int) -> list[str]:
    """A comment as the CRM will hold it: itself when it fits, else numbered parts "(1/3) ..." that each fit."""
    if len(text.encode()) <= limit:
        return [text]
    pieces = split_bytes(text, limit - PART_MARK)
    return [f"({i}/{len(pieces)}) {piece}" for i, piece in enumerate(pieces, 1)]
