"""Slash commands: the signed form POST to the app's command URL, and the ``response_url`` that records answers.

A ``response_url`` accepts 5 posts within 30 minutes, as Slack's does. An ``in_channel`` answer (immediate or
through the response_url) also appears in the channel as a message from the app; an ``ephemeral`` one is
recorded only (``emu.responses()``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.slack.model import Channel, User
from caseroom_sandbox.slack.wire import SlackError, json_response

if TYPE_CHECKING:
    from caseroom_sandbox.slack import SlackEmulator

MAX_POSTS = 5
LIFETIME_S = 30 * 60


@dataclass
class Invocation:
    id: str
    secret: str
    channel_id: str
    user_id: str
    command: str
    text: str
    created: float = field(default_factory=time.time)
    posts: int = 0
    origin: dict[str, Any] | None = None  # for a button click: the message that held the button


class Commands:
    def __init__(self, emu: SlackEmulator) -> None:
        self.emu = emu
        self.store = emu.store
        self.invocations: dict[str, Invocation] = {}
        self.responses: list[dict[str, Any]] = []

    def clear(self) -> None:
        with self.store.lock:
            self.invocations.clear()
            self.responses.clear()

    def routes(self) -> list[Route]:
        return [Route("/commands/{team_id}/{command_id}/{secret}", self.response_url, methods=["POST"]),
                Route("/actions/{team_id}/{command_id}/{secret}", self.response_url, methods=["POST"])]

    # -- the command ----------------------------------------------------------------------------------
    def run(self, user: User, ch: Channel, text: str, command: str = "/case") -> dict[str, Any]:
        """POST the command to the commands URL and return what the receiver answered at once."""
        url = self.emu.commands_url
        if not url:
            raise SlackError("no_commands_url", status=409)
        s = self.store
        with s.lock:
            inv = Invocation(s.ids.make("", 11), s.ids.secret(), ch.id, user.id, command, text)
            self.invocations[inv.id] = inv
        response_url = f"{self.emu.base_url()}commands/{s.team_id}/{inv.id}/{inv.secret}"
        form = {
            "token": self.emu.verification_token,
            "team_id": s.team_id,
            "team_domain": s.team_domain,
            "channel_id": ch.id,
            "channel_name": ch.name,
            "user_id": user.id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": s.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{inv.id}.{s.ids.secret(12)}",
        }
        raw = urlencode(form).encode()
        done = self.emu.dispatcher.send_now("command", url, raw, "application/x-www-form-urlencoded", form)
        answer: Any = None
        if done.response:
            try:
                answer = json.loads(done.response)
            except ValueError:
                answer = done.response
        if isinstance(answer, dict):
            self._answer(inv, answer, "immediate")
        elif isinstance(answer, str) and answer.strip():
            self._answer(inv, {"text": answer}, "immediate")
        return {"status": done.status, "error": done.error, "body": answer, "response_url": response_url}

    # -- answers --------------------------------------------------------------------------------------
    def _answer(self, inv: Invocation, body: dict[str, Any], via: str) -> None:
        if inv.origin is not None and (body.get("delete_original") or body.get("replace_original")):
            with self.store.lock:  # the message that held the clicked button goes, or changes in place
                if body.get("delete_original"):
                    inv.origin["deleted"] = True
                else:
                    inv.origin.update(text=body.get("text"), blocks=body.get("blocks"), replaced=True)
                    inv.origin.get("body", {}).update(text=body.get("text"), blocks=body.get("blocks"))
            return
        kind = str(body.get("response_type") or "ephemeral")
        record = {"channel_id": inv.channel_id, "user_id": inv.user_id, "command": inv.command, "via": via,
                  "response_type": kind, "text": body.get("text"), "body": body, "at": time.time()}  # fmt: skip
        with self.store.lock:
            self.responses.append(record)
            if kind == "in_channel":
                ch = self.store.channels.get(inv.channel_id)
                if ch is not None and not ch.is_archived:
                    blocks = body.get("blocks") if isinstance(body.get("blocks"), list) else None
                    self.store.post(ch, self.store.bot, str(body.get("text") or ""), blocks=blocks, as_app=True)

    async def response_url(self, request: Request) -> Response:
        p = request.path_params
        inv = self.invocations.get(p["command_id"])
        if inv is None or inv.secret != p["secret"] or p["team_id"] != self.store.team_id:
            return Response("invalid_url", status_code=404)
        if inv.posts >= MAX_POSTS or time.time() - inv.created > LIFETIME_S:
            return Response("used_url", status_code=404)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return Response("invalid_payload", status_code=400)
        if not isinstance(body, dict):
            return Response("invalid_payload", status_code=400)
        inv.posts += 1
        self._answer(inv, body, "response_url")
        return json_response({"ok": True})
