"""The CRM port on Zendesk Support: read tickets, write the room URL, private comments and files.

A ticket's id is unique only within its account, and the generic webhook's cases may use bare numbers too, so a
Zendesk case is ``zendesk:{ticket id}`` to CaseRoom and its number (the room's name) is ``ZD-{ticket id}``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket

from integrations.crm import CaseSnapshot, PermanentCRMError, Person, TransientCRMError, comment_parts
from integrations.filenames import safe_file_name, visible
from integrations.people_cache import PeopleCache
from integrations.zendesk.client import Connection, NotFound

NAME = "zendesk"  # the CRM its cases record (Case.crm)
PREFIX = "zendesk:"
NUMBER_PREFIX = "ZD-"
# A comment's body is limited to 64 KB; keep a margin for what Zendesk adds around it.
COMMENT_BYTES = 60_000
ATTACHMENT_BYTES = 50 * 1024 * 1024  # Zendesk's limit per attachment
CLOSED_STATUSES = ("solved", "closed")
# A ticket tag that picks its room's platform (otherwise the default platform).
PLATFORM_TAGS = {"caseroom_webex": "webex", "caseroom_slack": "slack"}


def crm_id(ticket_id: int | str) -> str:
    return f"{PREFIX}{ticket_id}"


def ticket_id(case_crm_id: str) -> int:
    """The Zendesk ticket id in a case's CRM id; :class:`PermanentCRMError` for a case that is not Zendesk's."""
    raw = case_crm_id.removeprefix(PREFIX)
    if not case_crm_id.startswith(PREFIX) or not raw.isdigit():
        raise PermanentCRMError(f"{case_crm_id!r} is not a Zendesk ticket (expected {PREFIX}<ticket id>)")
    return int(raw)


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class ExportPage:
    tickets: list[tuple[int, datetime]]  # (ticket id, updated_at)
    after_cursor: str | None
    end_of_stream: bool


class ZendeskCRM:
    name = NAME
    comment_bytes = COMMENT_BYTES

    def __init__(self, conn: Connection, *, room_url_field_id: int | None = None) -> None:
        self.conn = conn
        self.room_url_field_id = room_url_field_id
        self.base = (conn.settings.url or "").rstrip("/")
        self._users: PeopleCache[int] = PeopleCache()

    # -- reading -----------------------------------------------------------------------------------
    def read_case(self, crm_id: str) -> CaseSnapshot | None:
        tid = ticket_id(crm_id)
        try:
            ticket = self.conn.call("get ticket", lambda z: z.tickets(id=tid))
        except NotFound:
            return None
        return self.snapshot(ticket)

    def snapshot(self, ticket: Ticket) -> CaseSnapshot:
        status = str(ticket.status or "")
        assignee, group = ticket.assignee_id, ticket.group_id
        tags = set(ticket.tags or ())
        platform = next((p for tag, p in PLATFORM_TAGS.items() if tag in tags), None)
        owner = f"user:{assignee}" if assignee else f"group:{group}" if group else ""
        return CaseSnapshot(
            crm_id=crm_id(ticket.id),
            number=f"{NUMBER_PREFIX}{ticket.id}",
            subject=str(ticket.subject or ticket.raw_subject or ""),
            description=str(ticket.description or ""),
            status=status,
            priority=str(ticket.priority or ""),
            is_closed=status in CLOSED_STATUSES,
            customer=self.user(ticket.requester_id),
            # A group with no assignee: nobody has picked the ticket up yet.
            engineer=self.user(assignee) if assignee else None,
            platform=platform,
            owner_id=owner,
            modified_at=parse_time(ticket.updated_at),
            link=f"{self.base}/agent/tickets/{ticket.id}",
        )

    def changes(self, *, cursor: str | None, start_time: datetime | None) -> ExportPage:
        """One page of the cursor-based incremental ticket export: from ``cursor``, else from ``start_time``."""

        def page(z: Zenpy) -> Any:
            if cursor:
                return z.tickets.incremental(cursor=cursor, paginate_by_time=False)
            return z.tickets.incremental(start_time=start_time, paginate_by_time=False)

        # zenpy's generator holds the first page as read; its own paging would hide the cursor between pages.
        gen = self.conn.call("export changed tickets", page)
        found = [(int(t.id), when) for t in gen.values or [] if (when := parse_time(t.updated_at)) is not None]
        after = getattr(gen, "after_cursor", None)
        return ExportPage(found, str(after) if after else None, bool(getattr(gen, "end_of_stream", True)))

    def user(self, user_id: int | None) -> Person | None:
        return self._users.get(user_id, self._read_user) if user_id else None

    def _read_user(self, user_id: int) -> Person | None:
        try:
            found = self.conn.call("get user", lambda z: z.users(id=user_id))
        except NotFound:
            return None
        email = found.email
        return Person(str(email).lower(), str(found.name or ""), found.iana_time_zone) if email else None

    # -- writing -----------------------------------------------------------------------------------
    def write_room_url(self, crm_id: str, url: str) -> None:
        tid = ticket_id(crm_id)
        if self.room_url_field_id is None:
            # Without the field (`caseroom zendesk setup` creates it) agents still find the room on the ticket.
            self._update("comment the room URL", Ticket(id=tid, comment=self._note(f"Case room: {url}")))
            return
        field = [{"id": self.room_url_field_id, "value": url}]
        self._update("set the room URL field", Ticket(id=tid, custom_fields=field))

    def add_comment(self, crm_id: str, text: str) -> None:
        tid = ticket_id(crm_id)
        for body in comment_parts(text, self.comment_bytes):
            self._update("add a private comment", Ticket(id=tid, comment=self._note(body)))

    def attach_file(self, crm_id: str, name: str, content: bytes, mime: str) -> str:
        """Uploaded, then attached to a private comment on the ticket (where the ticket's search finds it)."""
        tid = ticket_id(crm_id)
        if len(content) > ATTACHMENT_BYTES:
            raise PermanentCRMError(f"{visible(name)} is {len(content)} bytes; Zendesk takes at most "
                                    f"{ATTACHMENT_BYTES} bytes per attachment")  # fmt: skip
        safe = safe_file_name(name)
        upload = self.conn.call("upload a file", lambda z: z.attachments.upload(
            io.BytesIO(content), target_name=safe, content_type=mime or "application/octet-stream"))  # fmt: skip
        token = getattr(upload, "token", None)
        if not token:
            raise TransientCRMError(f"Zendesk upload of {visible(name)}: no token in the answer")
        body = f"Filed from the case room: {visible(name)}"
        if safe != name:
            body += f" (stored as {safe})"
        self._update("attach a file", Ticket(id=tid, comment=self._note(body, uploads=[token])))
        attachment = getattr(upload, "attachment", None)
        found = getattr(attachment, "id", None)
        return f"{tid}/{found}" if found else f"{tid}/{token}"

    @staticmethod
    def _note(body: str, **extra: Any) -> Comment:
        # public: False makes it an internal note: agents see it, the requester never does.
        return Comment(body=body, public=False, **extra)

    def _update(self, what: str, ticket: Ticket) -> None:
        self.conn.call(what, lambda z: z.tickets.update(ticket))
