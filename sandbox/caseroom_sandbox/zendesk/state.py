"""The in-memory account: users, groups, tickets with their comments, uploads, ticket fields, webhooks and triggers.

Every ticket write goes through ``Account.save_ticket`` so that REST, the control API and the Python helpers
obey the same system ticket rules (closed tickets refuse updates, an assigned New ticket becomes Open, Solved
needs an assignee, upload tokens expire) and leave the same trail (``updated_at`` moves on every save, each
save gets the next position in the incremental export). A save is validated on a copy and committed whole, so
a refused update changes nothing.
"""

from __future__ import annotations

import copy
import html
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from caseroom_sandbox.zendesk.wire import PRIORITIES, ROLES, STATUSES, invalid, not_found, now, token
from caseroom_sandbox.zendesk.zones import DEFAULT_IANA, display_name

MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024  # Zendesk's per-file attachment limit
CLOSED_EDITABLE = {"tags", "additional_tags", "remove_tags", "subject", "priority"}  # "Modifying closed tickets"
TEXT_TYPES = {"text", "textarea", "regexp", "partialcreditcard", "date", "tagger"}
FIELD_TYPES = TEXT_TYPES | {"checkbox", "integer", "decimal", "multiselect", "lookup"}
SYSTEM_FIELDS = (("subject", "Subject"), ("description", "Description"), ("status", "Status"), ("tickettype", "Type"),
                 ("priority", "Priority"), ("group", "Group"), ("assignee", "Assignee"))  # fmt: skip
TAG = re.compile(r"<[^>]+>")


@dataclass
class User:
    id: int
    name: str
    email: str
    role: str
    iana_time_zone: str
    created_at: datetime
    updated_at: datetime

    @property
    def time_zone(self) -> str:
        return display_name(self.iana_time_zone)


@dataclass
class Group:
    id: int
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Attachment:
    id: int
    content_token: str  # in content_url; knowing it is what lets anyone download the file
    file_name: str
    content_type: str
    data: bytes
    upload_token: str
    attached: bool = False


@dataclass
class Upload:
    token: str
    attachment_ids: list[int]
    created_at: datetime
    expires_at: datetime
    expires_mono: float  # the emulator decides expiry on the monotonic clock, so tests need no wall clock
    used: bool = False


@dataclass
class Comment:
    id: int
    author_id: int
    body: str
    html_body: str
    plain_body: str
    public: bool
    attachment_ids: list[int]
    created_at: datetime
    channel: str
    audit_id: int


@dataclass
class Ticket:
    id: int
    subject: str
    status: str
    priority: str | None
    requester_id: int
    submitter_id: int
    assignee_id: int | None
    group_id: int | None
    tags: list[str]
    custom: dict[int, Any]
    created_at: datetime
    updated_at: datetime
    channel: str
    comments: list[Comment] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # type, external_id, due_at: kept, not interpreted
    seq: int = 0  # position in the incremental export (the account's save counter)
    saved_mono: float = 0.0

    @property
    def generated_timestamp(self) -> int:
        return int(self.updated_at.timestamp())


@dataclass
class TicketField:
    id: int
    type: str
    title: str
    system: bool
    position: int
    created_at: datetime
    updated_at: datetime
    props: dict[str, Any] = field(default_factory=dict)  # the other documented, writable properties


@dataclass
class Webhook:
    id: str
    name: str
    endpoint: str
    http_method: str
    request_format: str
    status: str
    subscriptions: list[str]
    secret: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    description: str | None = None
    authentication: dict[str, Any] | None = None
    custom_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Trigger:
    id: int
    title: str
    active: bool
    position: int
    conditions: dict[str, list[dict[str, Any]]]
    actions: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    category_id: str | None = None


@dataclass
class Saved:
    """One committed ticket save: what triggers see (the ticket before and after, who saved it, the comment)."""

    ticket: Ticket
    before: Ticket | None
    actor_id: int
    comment: Comment | None

    @property
    def update_type(self) -> str:
        return "Create" if self.before is None else "Change"


def html_of(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()] or [""]
    inner = "".join(f'<p dir="auto">{html.escape(p).replace(chr(10), "<br>")}</p>' for p in paragraphs)
    return f'<div class="zd-comment" dir="auto">{inner}</div>'


def text_of(markup: str) -> str:
    return html.unescape(TAG.sub("", markup.replace("<br>", "\n").replace("</p>", "\n\n"))).strip()


def normal_tags(tags: Any, name: str = "tags") -> list[str]:
    """Zendesk keeps tags lower-case and splits on whitespace; a string is a space-separated list."""
    if isinstance(tags, str):
        tags = tags.split()
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise invalid(name, f"{name.capitalize()}: must be an array of strings")
    out: list[str] = []
    for tag in (part.lower() for t in tags for part in t.split()):
        if tag not in out:
            out.append(tag)
    return out


class Account:
    def __init__(self, subdomain: str) -> None:
        self.subdomain = subdomain
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self._ids = itertools.count(360_000_000_001)
            self._ticket_ids = itertools.count(1)
            self._position = itertools.count(1)
            self.seq = 0
            self.users: dict[int, User] = {}
            self.groups: dict[int, Group] = {}
            self.tickets: dict[int, Ticket] = {}
            self.attachments: dict[int, Attachment] = {}
            self.uploads: dict[str, Upload] = {}
            self.fields: dict[int, TicketField] = {}
            self.webhooks: dict[str, Webhook] = {}
            self.triggers: dict[int, Trigger] = {}
            moment = now()
            for i, (kind, title) in enumerate(SYSTEM_FIELDS, start=1):
                fid = self.new_id()
                props = {"required": kind == "subject"}
                self.fields[fid] = TicketField(fid, kind, title, True, i, moment, moment, props)

    def new_id(self) -> int:
        with self.lock:
            return next(self._ids)

    # -- people -------------------------------------------------------------------------------------
    def add_user(self, name: str, email: str, role: str = "end-user", iana_time_zone: str | None = None) -> User:
        """The user with that e-mail, or a new one; a known user's role is raised (never lowered) to ``role``."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        zone = iana_time_zone or DEFAULT_IANA
        display_name(zone)  # ValueError for a zone Zendesk does not offer
        with self.lock:
            known = self.user_by_email(email)
            if known is not None:
                if ROLES.index(role) > ROLES.index(known.role):
                    known.role, known.updated_at = role, now()
                return known
            moment = now()
            user = User(self.new_id(), name or email.split("@")[0], email, role, zone, moment, moment)
            self.users[user.id] = user
            return user

    def user_by_email(self, email: str) -> User | None:
        wanted = email.strip().lower()
        with self.lock:
            return next((u for u in self.users.values() if u.email.lower() == wanted), None)

    def user(self, user_id: int) -> User:
        with self.lock:
            found = self.users.get(user_id)
        if found is None:
            raise not_found()
        return found

    def add_group(self, name: str) -> Group:
        with self.lock:
            moment = now()
            group = Group(self.new_id(), name, moment, moment)
            self.groups[group.id] = group
            return group

    def group(self, group_id: int) -> Group:
        with self.lock:
            found = self.groups.get(group_id)
        if found is None:
            raise not_found()
        return found

    # -- uploads ------------------------------------------------------------------------------------
    def upload(self, file_name: str, content_type: str, data: bytes, ttl_s: float, into: str | None = None) -> Upload:
        """Store a file under a new upload token, or add it to the live upload ``into``."""
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise invalid("base", f"Attachment: {file_name} is larger than the 50 MB limit")
        with self.lock:
            if into is not None:
                upload = self.uploads.get(into)
                if upload is None or upload.used or time.monotonic() >= upload.expires_mono:
                    raise invalid("token", f"Token: {into} is invalid or has expired")
            else:
                moment = now()
                upload = Upload(token(), [], moment, moment + timedelta(seconds=ttl_s), time.monotonic() + ttl_s)
                self.uploads[upload.token] = upload
            attachment = Attachment(self.new_id(), token(), file_name, content_type, data, upload.token)
            self.attachments[attachment.id] = attachment
            upload.attachment_ids.append(attachment.id)
            return upload

    def expire_uploads(self) -> None:
        """Make every pending upload token expire now (what an hour of waiting would do)."""
        with self.lock:
            for upload in self.uploads.values():
                upload.expires_mono = 0.0

    def downloadable(self, content_token: str) -> Attachment | None:
        """The attachment behind a content URL; an unattached upload's file is gone once its token expired."""
        with self.lock:
            found = next((a for a in self.attachments.values() if a.content_token == content_token), None)
            if found is None or found.attached:
                return found
            upload = self.uploads.get(found.upload_token)
            return found if upload is not None and time.monotonic() < upload.expires_mono else None

    # -- tickets ------------------------------------------------------------------------------------
    def ticket(self, ticket_id: int) -> Ticket:
        with self.lock:
            found = self.tickets.get(ticket_id)
        if found is None:
            raise not_found()
        return found

    def save_ticket(self, ticket_id: int | None, changes: dict[str, Any], *, actor_id: int, channel: str) -> Saved:
        """Apply ``changes`` (already shaped: ids as ints, ``comment`` a dict) under Zendesk's system rules."""
        with self.lock:
            before = copy.deepcopy(self.ticket(ticket_id)) if ticket_id is not None else None
            if before is not None and before.status == "closed" and set(changes) - CLOSED_EDITABLE:
                raise invalid("status", "Status: closed prevents ticket update")
            moment = now()
            work = copy.deepcopy(before) if before is not None else self._blank(changes, moment, channel)
            self._apply(work, before, changes)
            comment = self._comment(work, changes.get("comment"), actor_id, channel, moment)
            if before is None and comment is None:
                raise invalid("description", "Description: cannot be blank")
            if work.status in ("solved", "closed") and work.assignee_id is None:
                raise invalid("assignee", f"Assignee: is required when the status is {work.status}")
            # Commit: nothing below can fail.
            if before is None:
                work.id = next(self._ticket_ids)
            if comment is not None:
                for upload_token in changes["comment"].get("uploads") or []:
                    upload = self.uploads[upload_token]
                    upload.used = True
                    for aid in upload.attachment_ids:
                        self.attachments[aid].attached = True
                work.comments.append(comment)
            stamp = moment.replace(microsecond=0)
            if before is not None and stamp <= before.updated_at:
                stamp = before.updated_at + timedelta(seconds=1)  # updated_at moves on every save
            work.updated_at = stamp
            if before is None:
                work.created_at = stamp
            self.seq += 1
            work.seq, work.saved_mono = self.seq, time.monotonic()
            self.tickets[work.id] = work
            return Saved(copy.deepcopy(work), before, actor_id, copy.deepcopy(comment))

    def _blank(self, changes: dict[str, Any], moment: datetime, channel: str) -> Ticket:
        requester = changes.get("requester_id")
        if not isinstance(requester, int) or requester not in self.users:
            raise invalid("requester", "Requester: is invalid")
        custom = {f.id: None for f in self.fields.values() if not f.system and f.props.get("active", True)}
        return Ticket(0, "", "new", None, requester, requester, None, None, [], custom, moment, moment, channel)

    def _apply(self, work: Ticket, before: Ticket | None, changes: dict[str, Any]) -> None:
        if "subject" in changes:
            if not isinstance(changes["subject"], str):
                raise invalid("subject", "Subject: must be a string")
            work.subject = changes["subject"]
        if "priority" in changes:
            self._priority(work, changes["priority"])
        if "assignee_id" in changes:
            self._assignee(work, changes["assignee_id"])
        if "group_id" in changes:
            group_id = changes["group_id"]
            if group_id is not None and group_id not in self.groups:
                raise invalid("group", "Group: is invalid")
            work.group_id = group_id
        if "tags" in changes:
            work.tags = normal_tags(changes["tags"])
        for tag in normal_tags(changes.get("additional_tags", []), "additional_tags"):
            if tag not in work.tags:
                work.tags.append(tag)
        removed = set(normal_tags(changes.get("remove_tags", []), "remove_tags"))
        work.tags = [t for t in work.tags if t not in removed]
        for entry in changes.get("custom_fields") or []:
            self._custom(work, entry)
        for key in ("type", "external_id", "due_at"):
            if key in changes:
                work.extra[key] = changes[key]
        if "status" in changes:
            status = changes["status"]
            if status not in STATUSES:
                raise invalid("status", f"Status: {status} is not a valid status")
            if status == "new" and before is not None and before.status != "new":
                raise invalid("status", "Status: a ticket can never be set back to New")
            work.status = status
        if work.status == "new" and work.assignee_id is not None:
            work.status = "open"  # a New ticket assigned to an agent becomes Open

    def _priority(self, work: Ticket, priority: Any) -> None:
        if priority in (None, ""):
            if work.priority is not None:
                raise invalid("priority", "Priority: cannot be reset to no priority")
            return
        if priority not in PRIORITIES:
            raise invalid("priority", f"Priority: {priority} is not a valid priority")
        work.priority = priority

    def _assignee(self, work: Ticket, assignee_id: Any) -> None:
        if assignee_id is not None:
            user = self.users.get(assignee_id) if isinstance(assignee_id, int) else None
            if user is None:
                raise invalid("assignee", "Assignee: is invalid")
            if user.role == "end-user":
                raise invalid("assignee", f"Assignee: {user.name} is not an agent")
        work.assignee_id = assignee_id

    def _custom(self, work: Ticket, entry: Any) -> None:
        if not isinstance(entry, dict) or set(entry) - {"id", "value"} or not isinstance(entry.get("id"), int):
            raise invalid("custom_fields", "Custom fields: each entry must be {id, value} with an integer id")
        f = self.fields.get(entry["id"])
        if f is None or f.system or not f.props.get("active", True):
            raise invalid("custom_fields", f"Custom fields: {entry['id']} is not an active custom ticket field")
        value = entry.get("value")
        ok = {
            "checkbox": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "decimal": isinstance(value, int | float) and not isinstance(value, bool),
            "multiselect": isinstance(value, list),
        }.get(f.type, isinstance(value, str))
        if value is not None and not ok:
            raise invalid("custom_fields", f"{f.title}: {value!r} is not a valid {f.type} value")
        work.custom[f.id] = value

    def _comment(
        self, work: Ticket, raw: dict[str, Any] | None, actor_id: int, channel: str, moment: datetime
    ) -> Comment | None:
        if raw is None:
            return None
        body, markup = raw.get("body"), raw.get("html_body")
        if not (isinstance(body, str) and body.strip()) and not (isinstance(markup, str) and markup.strip()):
            raise invalid("comment", "Comment: body can't be blank")
        public = raw.get("public", True)
        if not isinstance(public, bool):
            raise invalid("comment", "Comment: public must be true or false")
        author_id = raw.get("author_id", actor_id)
        if not isinstance(author_id, int) or author_id not in self.users:
            raise invalid("comment", "Comment: author_id is invalid")
        attachment_ids: list[int] = []
        for upload_token in raw.get("uploads") or []:
            upload = self.uploads.get(upload_token) if isinstance(upload_token, str) else None
            if upload is None or upload.used or time.monotonic() >= upload.expires_mono:
                raise invalid("uploads", f"Uploads: token {upload_token} is invalid or has expired")
            attachment_ids.extend(upload.attachment_ids)
        if isinstance(markup, str) and markup.strip():
            text, markup_out = text_of(markup), markup
        else:
            text, markup_out = str(body), html_of(str(body))
        return Comment(self.new_id(), author_id, text, markup_out, text, public, attachment_ids, moment, channel,
                       self.new_id())  # fmt: skip

    # -- ticket fields ------------------------------------------------------------------------------
    def ticket_field(self, field_id: int) -> TicketField:
        with self.lock:
            found = self.fields.get(field_id)
        if found is None:
            raise not_found()
        return found

    def add_field(self, type_: str, title: str, props: dict[str, Any]) -> TicketField:
        if type_ not in FIELD_TYPES:
            raise invalid("type", f"Type: {type_} is not a valid field type")
        with self.lock:
            moment = now()
            position = props.pop("position", None) or max((f.position for f in self.fields.values()), default=0) + 1
            f = TicketField(self.new_id(), type_, title, False, position, moment, moment, props)
            self.fields[f.id] = f
            for ticket in self.tickets.values():
                ticket.custom.setdefault(f.id, None)
            return f

    def remove_field(self, field_id: int) -> None:
        with self.lock:
            f = self.ticket_field(field_id)
            if f.system:
                raise invalid("base", f"{f.title} is a system field and cannot be deleted")
            del self.fields[field_id]
            for ticket in self.tickets.values():
                ticket.custom.pop(field_id, None)

    def next_trigger_position(self) -> int:
        with self.lock:
            return max((t.position for t in self.triggers.values()), default=0) + 1

    def new_trigger_id(self) -> int:
        return next(self._position) + 360_100_000_000
