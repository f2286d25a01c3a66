"""``/_sandbox``: how tests and `make run` act as the customers and agents in the account and turn the knobs.

Not part of Zendesk, unauthenticated, JSON in and out, and mounted apart from ``/api/v2`` so nothing here is
reachable through the paths the product uses (the same protection as the Salesforce emulator's).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.zendesk.tickets import base_of
from caseroom_sandbox.zendesk.view import comment_json, group_json, ticket_json, user_json
from caseroom_sandbox.zendesk.wire import ZendeskError, bad_value, json_response

if TYPE_CHECKING:
    from caseroom_sandbox.zendesk import ZendeskEmulator

async def body_of(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise bad_value(f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise bad_value("a JSON object is expected")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise bad_value(f"{key} is required")
    return value


class Control:
    def __init__(self, emu: ZendeskEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/users", self.add_user, methods=["POST"]),
            Route("/_sandbox/groups", self.add_group, methods=["POST"]),
            Route("/_sandbox/tickets", self.open_ticket, methods=["POST"]),
            Route("/_sandbox/tickets/{ticket_id:int}", self.ticket, methods=["GET", "POST"]),
            Route("/_sandbox/uploads/expire", self.expire_uploads, methods=["POST"]),
            Route("/_sandbox/deliveries", self.deliveries, methods=["GET"]),
            Route("/_sandbox/flush", self.flush, methods=["POST"]),
            Route("/_sandbox/knobs", self.knobs, methods=["GET", "POST"]),
            Route("/_sandbox/state", self.state, methods=["GET"]),
            Route("/_sandbox/reset", self.reset, methods=["POST"]),
        ]

    async def add_user(self, request: Request) -> Response:
        body = await body_of(request)
        try:
            user_id = self.emu.add_user(str(body.get("name") or ""), _text(body, "email"),
                                        str(body.get("role") or "end-user"), body.get("iana_time_zone"))  # fmt: skip
        except ValueError as exc:
            raise bad_value(str(exc)) from exc
        return json_response(user_json(self.emu.account.user(user_id), base_of(request)), status=201)

    async def add_group(self, request: Request) -> Response:
        group_id = self.emu.add_group(_text(await body_of(request), "name"))
        return json_response(group_json(self.emu.account.group(group_id), base_of(request)), status=201)

    async def open_ticket(self, request: Request) -> Response:
        body = await body_of(request)
        try:
            fields = {int(f["id"]): f.get("value") for f in body.get("custom_fields") or []}
            ticket_id = self.emu.open_ticket(
                _text(body, "subject"), _text(body, "requester_email"),
                requester_name=str(body.get("requester_name") or ""), description=str(body.get("description") or ""),
                assignee_email=body.get("assignee_email"), group_id=body.get("group_id"),
                priority=str(body.get("priority") or "normal"), tags=tuple(body.get("tags") or ()),
                custom_fields=fields,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise bad_value(str(exc)) from exc
        return json_response(self._ticket(ticket_id, request), status=201)

    async def ticket(self, request: Request) -> Response:
        ticket_id = int(request.path_params["ticket_id"])
        if request.method == "POST":
            body = await body_of(request)
            comment = body.pop("comment", None)
            if comment is not None:
                body["comment"] = (_text(comment, "body"), bool(comment.get("public", True)))
            try:
                self.emu.update_ticket(ticket_id, **body)
            except (TypeError, ValueError) as exc:
                raise bad_value(str(exc)) from exc
        return json_response(self._ticket(ticket_id, request))

    def _ticket(self, ticket_id: int, request: Request) -> dict[str, Any]:
        account, base = self.emu.account, base_of(request)
        with account.lock:
            t = account.ticket(ticket_id)
            return ticket_json(account, t, base) | {"comments": [comment_json(account, c, base) for c in t.comments]}

    async def expire_uploads(self, request: Request) -> Response:
        self.emu.account.expire_uploads()
        return json_response({"ok": True})

    async def deliveries(self, request: Request) -> Response:
        return json_response(self.emu.deliveries)

    async def flush(self, request: Request) -> Response:
        body = await body_of(request)
        return json_response({"idle": self.emu.flush(float(body.get("timeout", 10.0)))})

    async def knobs(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.emu.set_knobs(**await body_of(request))
            except (TypeError, ValueError) as exc:
                raise ZendeskError(400, {"error": "InvalidKnob", "description": str(exc)}) from exc
        return json_response(self.emu.knob_values())

    async def state(self, request: Request) -> Response:
        return json_response(self.emu.snapshot())

    async def reset(self, request: Request) -> Response:
        self.emu.reset()
        return json_response({"ok": True})
