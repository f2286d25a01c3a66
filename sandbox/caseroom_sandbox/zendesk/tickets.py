"""``/api/v2`` tickets, ticket comments, users, groups, uploads and attachments, answering as Zendesk does.

Auth, rate-limit headers and injected faults happen in the app's middleware (see ``__init__``); a trailing
``.json`` is stripped before routing, so every route answers with and without it.

Ticket bodies are checked strictly: read-only properties a client echoes back (``id``, ``url``,
``created_at``...) are ignored as Zendesk ignores them, documented writable properties the emulator does not
model are refused with 422 naming the property (so nothing is silently dropped), and anything else is refused
as unknown. ``safe_update`` with a stale ``updated_stamp`` answers 409 ``UpdateConflict``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.zendesk.paging import paged
from caseroom_sandbox.zendesk.state import Saved
from caseroom_sandbox.zendesk.view import attachment_json, comment_json, group_json, ticket_json, upload_json, user_json
from caseroom_sandbox.zendesk.wire import ZendeskError, bad_value, invalid, iso, json_response, not_found

if TYPE_CHECKING:
    from caseroom_sandbox.zendesk import ZendeskEmulator

MODELLED = {"subject", "status", "priority", "assignee_id", "assignee_email", "group_id", "tags", "additional_tags",
            "remove_tags", "custom_fields", "fields", "comment", "type", "external_id", "due_at", "safe_update",
            "updated_stamp"}  # fmt: skip
READ_ONLY = {"id", "url", "created_at", "updated_at", "generated_timestamp", "description", "raw_subject", "via",
             "has_incidents", "is_public", "satisfaction_rating", "followup_ids", "allow_channelback",
             "allow_attachments", "from_messaging_channel", "encoded_id", "sharing_agreement_ids"}  # fmt: skip
NOT_MODELLED = {"requester_id", "requester", "submitter_id", "organization_id", "collaborator_ids", "collaborators",
                "additional_collaborators", "email_ccs", "email_cc_ids", "followers", "follower_ids", "brand_id",
                "custom_status_id", "problem_id", "ticket_form_id", "recipient", "macro_id", "macro_ids",
                "attribute_value_ids", "via_followup_source_id", "via_id", "metadata", "voice_comment",
                "forum_topic_id"}  # fmt: skip
COMMENT_KEYS = {"body", "html_body", "public", "uploads", "author_id"}
TYPES = (None, "problem", "incident", "question", "task")


async def json_body(request: Request, key: str) -> dict[str, Any]:
    """``{key: {...}}`` from the body; 400 for broken JSON or a missing wrapper, as Rails answers."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ZendeskError(400, {"error": "InvalidJSON", "description": f"Invalid JSON: {exc}"}) from exc
    inner = body.get(key) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        description = f"param is missing or the value is empty: {key}"
        raise ZendeskError(400, {"error": "ParameterMissing", "description": description})
    return inner


def int_param(request: Request, name: str) -> int:
    raw = str(request.path_params[name])
    if not raw.isdigit():
        raise not_found()
    return int(raw)


def base_of(request: Request) -> str:
    return str(request.base_url).rstrip("/")


class Tickets:
    def __init__(self, emu: ZendeskEmulator) -> None:
        self.emu = emu
        self.account = emu.account

    def routes(self) -> list[Route]:
        v2 = "/api/v2"
        return [
            Route(f"{v2}/tickets/{{ticket_id}}", self.ticket, methods=["GET", "PUT"]),
            Route(f"{v2}/tickets/{{ticket_id}}/comments", self.comments, methods=["GET"]),
            Route(f"{v2}/users/me", self.me, methods=["GET"]),
            Route(f"{v2}/users/show_many", self.show_many, methods=["GET"]),
            Route(f"{v2}/users/{{user_id}}", self.user, methods=["GET"]),
            Route(f"{v2}/groups/{{group_id}}", self.group, methods=["GET"]),
            Route(f"{v2}/uploads", self.upload, methods=["POST"]),
            Route(f"{v2}/attachments/{{attachment_id}}", self.attachment, methods=["GET"]),
            Route("/attachments/token/{content_token}/", self.content, methods=["GET"]),
            Route("/attachments/token/{content_token}", self.content, methods=["GET"]),
        ]

    # -- tickets ------------------------------------------------------------------------------------
    async def ticket(self, request: Request) -> Response:
        ticket_id = int_param(request, "ticket_id")
        if request.method == "GET":
            ticket = self.account.ticket(ticket_id)
            return json_response({"ticket": ticket_json(self.account, ticket, base_of(request))})
        changes = self.changes(await json_body(request, "ticket"), ticket_id)
        saved = self.emu.save(ticket_id, changes, actor_id=self.emu.agent_id, channel="api")
        base = base_of(request)
        return json_response({"ticket": ticket_json(self.account, saved.ticket, base), "audit": audit(saved, base)})

    def changes(self, body: dict[str, Any], ticket_id: int) -> dict[str, Any]:
        for key in body:
            if key in NOT_MODELLED:
                raise invalid(key, f"{key}: the emulator does not model this property")
            if key not in MODELLED | READ_ONLY:
                raise invalid(key, f"{key}: is not a ticket property")
        out = {k: v for k, v in body.items() if k in MODELLED}
        if out.pop("safe_update", False):
            current = iso(self.account.ticket(ticket_id).updated_at)
            if out.get("updated_stamp") != current:
                raise ZendeskError(409, {"error": "UpdateConflict", "description": "Safe Update prevented the update "
                                         "due to outdated ticket data. Please fetch the latest ticket data and try "
                                         "again."})  # fmt: skip
        out.pop("updated_stamp", None)
        if "fields" in out:
            out["custom_fields"] = out.pop("fields")
        if "assignee_email" in out:
            user = self.account.user_by_email(str(out.pop("assignee_email") or ""))
            if user is None:
                raise invalid("assignee", "Assignee: is invalid")
            out["assignee_id"] = user.id
        for key in ("assignee_id", "group_id"):
            if key in out and out[key] is not None and (not isinstance(out[key], int) or isinstance(out[key], bool)):
                raise invalid(key, f"{key}: must be an integer or null")
        if "type" in out and out["type"] not in TYPES:
            raise invalid("type", f"Type: {out['type']} is not a valid ticket type")
        if "custom_fields" in out and not isinstance(out["custom_fields"], list):
            raise invalid("custom_fields", "Custom fields: must be an array of {id, value}")
        if "comment" in out:
            comment = out["comment"]
            if not isinstance(comment, dict):
                raise invalid("comment", "Comment: must be an object")
            unknown = set(comment) - COMMENT_KEYS
            if unknown:
                raise invalid("comment", f"Comment: {', '.join(sorted(unknown))} is not a comment property")
            uploads = comment.get("uploads")
            if uploads is not None and not (isinstance(uploads, list) and all(isinstance(u, str) for u in uploads)):
                raise invalid("uploads", "Uploads: must be an array of upload tokens")
        return out

    async def comments(self, request: Request) -> Response:
        ticket = self.account.ticket(int_param(request, "ticket_id"))
        base = base_of(request)
        items = [comment_json(self.account, c, base) for c in ticket.comments]
        if request.query_params.get("sort_order") == "desc":
            items.reverse()
        return json_response(paged(request, items, "comments", self.emu.page_size))

    # -- users and groups ---------------------------------------------------------------------------
    async def me(self, request: Request) -> Response:
        return json_response({"user": user_json(self.account.user(self.emu.agent_id), base_of(request))})

    async def user(self, request: Request) -> Response:
        return json_response({"user": user_json(self.account.user(int_param(request, "user_id")), base_of(request))})

    async def show_many(self, request: Request) -> Response:
        raw = request.query_params.get("ids", "")
        ids = [part.strip() for part in raw.split(",") if part.strip()]
        if not ids or not all(i.isdigit() for i in ids):
            raise bad_value("ids must be a comma-separated list of ids")
        if len(ids) > 100:
            raise ZendeskError(400, {"error": "TooManyValues", "description": "You can only request up to 100 ids"})
        base = base_of(request)
        known = self.account.users
        users = [user_json(known[int(i)], base) for i in dict.fromkeys(ids) if int(i) in known]
        return json_response({"users": users, "next_page": None, "previous_page": None, "count": len(users)})

    async def group(self, request: Request) -> Response:
        group = self.account.group(int_param(request, "group_id"))
        return json_response({"group": group_json(group, base_of(request))})

    # -- uploads and attachments --------------------------------------------------------------------
    async def upload(self, request: Request) -> Response:
        file_name = request.query_params.get("filename", "").strip()
        if not file_name:
            raise invalid("filename", "Filename: cannot be blank")
        content_type = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
        upload = self.account.upload(file_name, content_type or "application/octet-stream", await request.body(),
                                     self.emu.knobs.upload_ttl_s, into=request.query_params.get("token"))  # fmt: skip
        return json_response({"upload": upload_json(self.account, upload, base_of(request))}, status=201)

    async def attachment(self, request: Request) -> Response:
        found = self.account.attachments.get(int_param(request, "attachment_id"))
        if found is None:
            raise not_found()
        return json_response({"attachment": attachment_json(found, base_of(request))})

    async def content(self, request: Request) -> Response:
        """The file behind ``content_url``: no credentials needed, the token in the URL is the secret."""
        found = self.account.downloadable(request.path_params["content_token"])
        if found is None:
            raise not_found()
        disposition = f"attachment; filename=\"{found.file_name.replace(chr(34), '')}\""
        return Response(found.data, media_type=found.content_type, headers={"Content-Disposition": disposition})


def audit(saved: Saved, base: str) -> dict[str, Any]:
    """The audit Zendesk returns beside an updated ticket: one event per changed property and the comment."""
    t, before = saved.ticket, saved.before
    events: list[dict[str, Any]] = []
    if saved.comment is not None:
        c = saved.comment
        events.append({"id": c.id + 1, "type": "Comment", "author_id": c.author_id, "body": c.body,
                       "html_body": c.html_body, "plain_body": c.plain_body, "public": c.public,
                       "attachments": [], "audit_id": c.audit_id})  # fmt: skip
    for name in ("status", "priority", "assignee_id", "group_id", "subject"):
        new, old = getattr(t, name), getattr(before, name) if before else None
        if new != old:
            events.append({"id": len(events) + t.seq * 100, "type": "Change", "field_name": name,
                           "value": None if new is None else str(new),
                           "previous_value": None if old is None else str(old)})  # fmt: skip
    audit_id = saved.comment.audit_id if saved.comment is not None else t.seq * 1000
    return {"id": audit_id, "ticket_id": t.id, "created_at": iso(t.updated_at), "author_id": saved.actor_id,
            "metadata": {"system": {}, "custom": {}}, "via": {"channel": "api", "source": {"from": {}, "to": {},
            "rel": None}}, "events": events}  # fmt: skip
