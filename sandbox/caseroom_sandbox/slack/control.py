"""``/_sandbox``: how tests and `make run` act as the people in the channels and turn the emulator's knobs.

Not part of Slack and unauthenticated. Errors answer ``{"ok": false, "error": code}`` with a 4xx status.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.slack.wire import SlackError, fail, json_response

if TYPE_CHECKING:
    from caseroom_sandbox.slack import SlackEmulator

Endpoint = Callable[[Request], Awaitable[Response]]


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise SlackError("invalid_json", status=400) from exc
    if not isinstance(body, dict):
        raise SlackError("invalid_json", status=400)
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise SlackError(f"missing_{key}", status=400)
    return value


def guarded(fn: Endpoint) -> Endpoint:
    async def run(request: Request) -> Response:
        try:
            return await fn(request)
        except SlackError as exc:
            status = exc.status if exc.status >= 400 else 404 if exc.code.endswith("not_found") else 400
            return fail(exc.code, status=status, **exc.extra)

    return run


class Control:
    def __init__(self, emu: SlackEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[Route]:
        table: list[tuple[str, Endpoint, str]] = [
            ("/_sandbox/users", self.add_user, "POST"),
            ("/_sandbox/act/message", self.act_message, "POST"),
            ("/_sandbox/act/edit", self.act_edit, "POST"),
            ("/_sandbox/act/delete", self.act_delete, "POST"),
            ("/_sandbox/act/join", self.act_join, "POST"),
            ("/_sandbox/act/leave", self.act_leave, "POST"),
            ("/_sandbox/act/accept_invite", self.accept_invite, "POST"),
            ("/_sandbox/act/command", self.act_command, "POST"),
            ("/_sandbox/act/click", self.act_click, "POST"),
            ("/_sandbox/verify_url", self.verify_url, "POST"),
            ("/_sandbox/state", self.state, "GET"),
            ("/_sandbox/channels/{channel_id}/messages", self.messages, "GET"),
            ("/_sandbox/deliveries", self.deliveries, "GET"),
            ("/_sandbox/responses", self.responses, "GET"),
            ("/_sandbox/knobs", self.knobs, "POST"),
            ("/_sandbox/reset", self.reset, "POST"),
        ]
        return [Route(path, guarded(fn), methods=[verb]) for path, fn, verb in table]

    async def add_user(self, request: Request) -> Response:
        body = await json_body(request)
        email = _text(body, "email")
        return json_response(
            self.emu.add_user(email, str(body.get("name") or email), external=bool(body.get("external")))
        )

    async def act_message(self, request: Request) -> Response:
        body = await json_body(request)
        self.emu.base_url(request)
        file = body.get("file") if isinstance(body.get("file"), dict) else None
        who, where, text = _text(body, "as_email"), _text(body, "channel_id"), str(body.get("text") or "")
        return json_response(self.emu.act_message(who, where, text, body.get("thread_ts"), file))

    async def act_edit(self, request: Request) -> Response:
        b = await json_body(request)
        return json_response(self.emu.act_edit(_text(b, "as_email"), _text(b, "channel_id"), _text(b, "ts"),
                                               str(b.get("text") or "")))  # fmt: skip

    async def act_delete(self, request: Request) -> Response:
        b = await json_body(request)
        return json_response(self.emu.act_delete(_text(b, "as_email"), _text(b, "channel_id"), _text(b, "ts")))

    async def act_join(self, request: Request) -> Response:
        b = await json_body(request)
        return json_response(self.emu.act_join(_text(b, "as_email"), _text(b, "channel_id")))

    async def act_leave(self, request: Request) -> Response:
        b = await json_body(request)
        return json_response(self.emu.act_leave(_text(b, "as_email"), _text(b, "channel_id")))

    async def accept_invite(self, request: Request) -> Response:
        b = await json_body(request)
        return json_response(self.emu.accept_invite(b.get("invite_id"), b.get("email"), b.get("channel_id")))

    async def act_command(self, request: Request) -> Response:
        b = await json_body(request)
        self.emu.base_url(request)
        # In a thread: the receiver may call back into this server while it answers.
        answer = await asyncio.to_thread(self.emu.command, _text(b, "as_email"), _text(b, "channel_id"),
                                         str(b.get("text") or ""), str(b.get("command") or "/case"))  # fmt: skip
        return json_response(answer)

    async def act_click(self, request: Request) -> Response:
        b = await json_body(request)
        self.emu.base_url(request)
        answer = await asyncio.to_thread(self.emu.click, _text(b, "as_email"), _text(b, "channel_id"),
                                         _text(b, "action_id"))  # fmt: skip
        return json_response(answer)

    async def verify_url(self, request: Request) -> Response:
        return json_response(await asyncio.to_thread(self.emu.verify_url))

    async def state(self, request: Request) -> Response:
        self.emu.base_url(request)
        return json_response(self.emu.snapshot())

    async def messages(self, request: Request) -> Response:
        self.emu.base_url(request)
        return json_response({"messages": self.emu.channel_messages(request.path_params["channel_id"])})

    async def deliveries(self, request: Request) -> Response:
        return json_response({"deliveries": self.emu.deliveries()})

    async def responses(self, request: Request) -> Response:
        return json_response({"responses": self.emu.responses(request.query_params.get("channel_id"))})

    async def knobs(self, request: Request) -> Response:
        body = await json_body(request)
        try:
            knobs = self.emu.faults.update(**body)
        except TypeError as exc:
            raise SlackError("unknown_knob", status=400, extra={"detail": str(exc)}) from exc
        return json_response(knobs.to_dict())

    async def reset(self, request: Request) -> Response:
        await asyncio.to_thread(self.emu.reset)
        return json_response({"ok": True})
