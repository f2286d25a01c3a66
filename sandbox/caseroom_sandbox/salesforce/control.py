"""``/_sandbox``: how tests and `make run` act as the support agents in the org and turn the emulator's knobs.

Not part of Salesforce, unauthenticated, JSON in and out, and mounted apart from ``/services`` so nothing here
is reachable through the API paths the product uses.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.salesforce.wire import SalesforceError, json_response, now, parse_datetime

if TYPE_CHECKING:
    from caseroom_sandbox.salesforce import SalesforceEmulator


async def body_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "a JSON object is expected")
    return body


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise SalesforceError(400, "REQUIRED_FIELD_MISSING", f"{key} is required", [key])
    return value


class Control:
    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/users", self.add_user, methods=["POST"]),
            Route("/_sandbox/queues", self.add_queue, methods=["POST"]),
            Route("/_sandbox/cases", self.open_case, methods=["POST"]),
            Route("/_sandbox/cases/{case_id}", self.case, methods=["GET"]),
            Route("/_sandbox/cases/{case_id}/owner", self.rotate, methods=["POST"]),
            Route("/_sandbox/cases/{case_id}/close", self.close, methods=["POST"]),
            Route("/_sandbox/state", self.state, methods=["GET"]),
            Route("/_sandbox/outbound", self.outbound, methods=["GET"]),
            Route("/_sandbox/outbound/flush", self.flush, methods=["POST"]),
            Route("/_sandbox/sessions/expire", self.expire, methods=["POST"]),
            Route("/_sandbox/knobs", self.knobs, methods=["GET", "POST"]),
            Route("/_sandbox/reset", self.reset, methods=["POST"]),
        ]

    def owner(self, body: dict[str, Any]) -> str:
        """``owner_id``, or ``owner_email`` (a user), or ``queue`` (a queue's name)."""
        if body.get("owner_id"):
            return str(body["owner_id"])
        if body.get("owner_email"):
            user = self.emu.org.user_by_email(str(body["owner_email"]))
            if user is None:
                raise SalesforceError(404, "NOT_FOUND", f"no user with email {body['owner_email']}")
            return str(user["Id"])
        if body.get("queue"):
            queue = self.emu.org.queue_by_name(str(body["queue"]))
            if queue is None:
                raise SalesforceError(404, "NOT_FOUND", f"no queue named {body['queue']}")
            return str(queue["Id"])
        raise SalesforceError(400, "REQUIRED_FIELD_MISSING", "owner_id, owner_email or queue is required")

    async def add_user(self, request: Request) -> Response:
        body = await body_of(request)
        email = _text(body, "email")
        timezone = str(body.get("timezone") or "Europe/Amsterdam")
        user_id = self.emu.add_user(email, str(body.get("name") or email), timezone)
        return json_response(self.emu.org.get("User", user_id), status=201)

    async def add_queue(self, request: Request) -> Response:
        queue_id = self.emu.add_queue(_text(await body_of(request), "name"))
        return json_response(self.emu.org.get("Group", queue_id), status=201)

    async def open_case(self, request: Request) -> Response:
        body = await body_of(request)
        has_owner = any(body.get(k) for k in ("owner_id", "owner_email", "queue"))
        case = self.emu.open_case(
            subject=_text(body, "subject"),
            description=str(body.get("description") or ""),
            contact_email=_text(body, "contact_email"),
            contact_name=str(body.get("contact_name") or body["contact_email"]),
            owner_id=self.owner(body) if has_owner else None,
            priority=str(body.get("priority") or "Medium"),
            started_at=self.started_at(body),
        )
        return json_response(case, status=201)

    @staticmethod
    def started_at(body: dict[str, Any]) -> datetime | None:
        raw = body.get("save_started_at")
        if raw is None:
            return None
        try:
            moment = parse_datetime(str(raw))
            if moment > now():
                raise ValueError("a save cannot start in the future")
            return moment
        except ValueError as exc:
            raise SalesforceError(400, "INVALID_FIELD", f"save_started_at: {exc}", ["save_started_at"]) from exc

    async def case(self, request: Request) -> Response:
        return json_response(self.emu.case_detail(request.path_params["case_id"]))

    async def rotate(self, request: Request) -> Response:
        owner = self.owner(await body_of(request))
        return json_response(self.emu.update_case(request.path_params["case_id"], OwnerId=owner))

    async def close(self, request: Request) -> Response:
        return json_response(self.emu.update_case(request.path_params["case_id"], Status="Closed"))

    async def state(self, request: Request) -> Response:
        return json_response(self.emu.snapshot())

    async def outbound(self, request: Request) -> Response:
        out = self.emu.outbound
        return json_response({"url": out.url, "attempts": out.history(), "pending": out.pending(),
                              "dropped": list(out.dropped)})  # fmt: skip

    async def flush(self, request: Request) -> Response:
        body = await body_of(request)
        idle = self.emu.flush_outbound(float(body.get("timeout", 5.0)))
        return json_response({"idle": idle, "pending": self.emu.outbound.pending()})

    async def expire(self, request: Request) -> Response:
        return json_response({"access_token": self.emu.expire_sessions()})

    async def knobs(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.emu.set_knobs(**await body_of(request))
            except (TypeError, ValueError) as exc:
                raise SalesforceError(400, "INVALID_KNOB", str(exc)) from exc
        return json_response(self.emu.knob_values())

    async def reset(self, request: Request) -> Response:
        self.emu.reset()
        return json_response({"ok": True})
