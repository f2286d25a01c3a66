"""``/_sandbox``: how tests and `make run` act as the people in the rooms and turn the emulator's knobs.

Not part of Webex, unauthenticated, and kept apart from ``/v1`` so nothing here leaks into the contract.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.webex.api import json_body
from caseroom_sandbox.webex.messages import Upload
from caseroom_sandbox.webex.model import Person
from caseroom_sandbox.webex.wire import WebexError, json_response

if TYPE_CHECKING:
    from caseroom_sandbox.webex import WebexEmulator

SCAN_STATES = ("clean", "scanning", "infected", "unscannable")


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise WebexError(400, f"{key} is required.")
    return value


class Control:
    def __init__(self, emu: WebexEmulator) -> None:
        self.emu = emu
        self.store = emu.store

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/people", self.add_person, methods=["POST"]),
            Route("/_sandbox/act/message", self.act_message, methods=["POST"]),
            Route("/_sandbox/act/edit", self.act_edit, methods=["POST"]),
            Route("/_sandbox/act/delete", self.act_delete, methods=["POST"]),
            Route("/_sandbox/act/join", self.act_join, methods=["POST"]),
            Route("/_sandbox/act/leave", self.act_leave, methods=["POST"]),
            Route("/_sandbox/act/submit", self.act_submit, methods=["POST"]),
            Route("/_sandbox/files/{content_id}/scan", self.scan, methods=["POST"]),
            Route("/_sandbox/state", self.state, methods=["GET"]),
            Route("/_sandbox/rooms/{room_id}/messages", self.room_messages, methods=["GET"]),
            Route("/_sandbox/deliveries", self.deliveries, methods=["GET"]),
            Route("/_sandbox/knobs", self.knobs, methods=["POST"]),
            Route("/_sandbox/reset", self.reset, methods=["POST"]),
        ]

    def _person(self, email: str) -> Person:
        # Acting as someone the emulator has not met yet creates them, as a colleague in the org.
        return self.store.person_by_email(email) or self.store.add_person(email, email.split("@")[0])

    async def add_person(self, request: Request) -> Response:
        body = await json_body(request)
        return json_response(self.emu.add_person(_text(body, "email"), str(body.get("name") or body["email"])))

    async def act_message(self, request: Request) -> Response:
        body = await json_body(request)
        author = self._person(_text(body, "as_email"))
        upload, link = None, None
        if body.get("file") and body["file"].get("link"):
            # A file link on another host, kept as given: how a message pointing elsewhere looks to readers.
            link = str(body["file"]["link"])
        elif body.get("file"):
            f = body["file"]
            try:
                data = base64.b64decode(f.get("content_b64", ""), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise WebexError(400, "file.content_b64 is not base64.") from exc
            scan = str(f.get("scan") or "clean")
            if scan not in SCAN_STATES:
                raise WebexError(400, f"file.scan must be one of {', '.join(SCAN_STATES)}.")
            upload = Upload(str(f.get("name") or "file"), str(f.get("mime") or "application/octet-stream"), data, scan)
        base = self.emu.base_url(request)
        msg = self.emu.messages.post_as(
            author, _text(body, "room_id"), str(body.get("text") or ""), parent_id=body.get("parent_id"),
            mention=self.emu.bot if body.get("mention_bot") else None, upload=upload, base=base, link=link,
        )  # fmt: skip
        return json_response(msg.to_json(base))

    async def act_edit(self, request: Request) -> Response:
        """The author edits a message in a client: ``{as_email, message_id, text}``."""
        body = await json_body(request)
        author, message_id = self._person(_text(body, "as_email")), _text(body, "message_id")
        with self.store.lock:
            msg = self.store.messages.get(message_id)
            if msg is None:
                raise WebexError(404, "No such message.")
            room_id = msg.room_id
        base = self.emu.base_url(request)
        edited = self.emu.messages.edit(author, message_id, {"roomId": room_id, "text": _text(body, "text")}, base)
        return json_response(edited.to_json(base))

    async def act_delete(self, request: Request) -> Response:
        """Someone deletes a message in a client (their own, or any as the room's moderator)."""
        body = await json_body(request)
        person = self._person(_text(body, "as_email"))
        self.emu.messages.delete(person, _text(body, "message_id"), self.emu.base_url(request))
        return Response(status_code=204)

    async def act_join(self, request: Request) -> Response:
        body = await json_body(request)
        person = self._person(_text(body, "email"))
        s = self.store
        with s.lock:
            room = s.rooms.get(_text(body, "room_id"))
            if room is None:
                raise WebexError(404, "No such room.")
            membership = s.join(room, person, actor=person)
            return json_response(membership.to_json(person, room))

    async def act_submit(self, request: Request) -> Response:
        body = await json_body(request)
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise WebexError(400, "inputs must be an object.")
        action = self.emu.cards.submit(self._person(_text(body, "as_email")), _text(body, "message_id"), inputs)
        return json_response(action.to_json())

    async def act_leave(self, request: Request) -> Response:
        body = await json_body(request)
        person = self._person(_text(body, "email"))
        membership = self.store.membership_of(_text(body, "room_id"), person.id)
        if membership is None:
            raise WebexError(404, f"{person.email} is not in that room.")
        self.store.leave(membership, actor=person)
        return Response(status_code=204)

    async def scan(self, request: Request) -> Response:
        state = _text(await json_body(request), "state")
        if state not in SCAN_STATES:
            raise WebexError(400, f"state must be one of {', '.join(SCAN_STATES)}.")
        with self.store.lock:
            content = self.store.contents.get(request.path_params["content_id"])
            if content is None:
                raise WebexError(404, "No such file.")
            content.scan = state
        return json_response({"id": content.id, "name": content.name, "scan": state})

    async def state(self, request: Request) -> Response:
        return json_response(self.emu.snapshot())

    async def room_messages(self, request: Request) -> Response:
        s = self.store
        base = self.emu.base_url(request)
        with s.lock:
            if request.path_params["room_id"] not in s.rooms:
                raise WebexError(404, "No such room.")
            found = sorted((m for m in s.messages.values() if m.room_id == request.path_params["room_id"]),
                           key=lambda m: m.seq)  # fmt: skip
            return json_response({"items": [m.to_json(base) for m in found]})

    async def deliveries(self, request: Request) -> Response:
        return json_response({"items": self.emu.dispatcher.deliveries()})

    async def knobs(self, request: Request) -> Response:
        body = await json_body(request)
        try:
            knobs = self.emu.faults.update(**body)
        except TypeError as exc:
            raise WebexError(400, f"Unknown knob: {exc}") from exc
        return json_response(knobs.to_dict())

    async def reset(self, request: Request) -> Response:
        self.emu.reset()
        return json_response({"reset": True})
