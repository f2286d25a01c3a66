"""The ``/v1`` REST surface, answered as Webex answers it (codes, shapes, Link pagination)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.webex.messages import Upload, page_size
from caseroom_sandbox.webex.model import Person
from caseroom_sandbox.webex.wire import WebexError, json_response

if TYPE_CHECKING:
    from caseroom_sandbox.webex import WebexEmulator


def caller(request: Request) -> Person:
    person: Person = request.state.person
    return person


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise WebexError(400, "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise WebexError(400, "The request body must be a JSON object.")
    return body


def no_content() -> Response:
    return Response(status_code=204)


class V1:
    def __init__(self, emu: WebexEmulator) -> None:
        self.emu = emu
        self.store = emu.store
        self.messages = emu.messages

    def routes(self) -> list[Route]:
        return [
            Route("/v1/people/me", self.people_me, methods=["GET"]),
            Route("/v1/people", self.people_list, methods=["GET"]),
            Route("/v1/people/{id}", self.people_get, methods=["GET"]),
            Route("/v1/rooms", self.rooms_create, methods=["POST"]),
            Route("/v1/rooms", self.rooms_list, methods=["GET"]),
            Route("/v1/rooms/{id}", self.rooms_get, methods=["GET"]),
            Route("/v1/rooms/{id}", self.rooms_update, methods=["PUT"]),
            Route("/v1/rooms/{id}", self.rooms_delete, methods=["DELETE"]),
            Route("/v1/memberships", self.memberships_create, methods=["POST"]),
            Route("/v1/memberships", self.memberships_list, methods=["GET"]),
            Route("/v1/memberships/{id}", self.memberships_get, methods=["GET"]),
            Route("/v1/memberships/{id}", self.memberships_update, methods=["PUT"]),
            Route("/v1/memberships/{id}", self.memberships_delete, methods=["DELETE"]),
            Route("/v1/messages", self.messages_create, methods=["POST"]),
            Route("/v1/messages", self.messages_list, methods=["GET"]),
            Route("/v1/messages/{id}", self.messages_get, methods=["GET"]),
            Route("/v1/messages/{id}", self.messages_edit, methods=["PUT"]),
            Route("/v1/messages/{id}", self.messages_delete, methods=["DELETE"]),
            Route("/v1/contents/{id}", self.contents_get, methods=["GET"]),
            Route("/v1/webhooks", self.webhooks_create, methods=["POST"]),
            Route("/v1/webhooks", self.webhooks_list, methods=["GET"]),
            Route("/v1/webhooks/{id}", self.webhooks_get, methods=["GET"]),
            Route("/v1/webhooks/{id}", self.webhooks_update, methods=["PUT"]),
            Route("/v1/webhooks/{id}", self.webhooks_delete, methods=["DELETE"]),
            Route("/v1/attachment/actions/{id}", self.card_action_get, methods=["GET"]),
            Route("/v1/{rest:path}", self.unknown, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        ]

    # -- helpers ------------------------------------------------------------------------------------
    def paged(self, request: Request, items: Sequence[dict[str, Any]], *, default_max: int = 100) -> Response:
        """A page of ``items`` plus an absolute ``Link: rel="next"`` when more remain (the SDK follows it)."""
        size = page_size(request.query_params.get("max"), default=default_max)
        try:
            start = int(request.query_params.get("cursor", "0"))
        except ValueError as exc:
            raise WebexError(400, "cursor is not valid.") from exc
        page = list(items[start : start + size])
        headers = {}
        if start + size < len(items):
            params = dict(request.query_params) | {"cursor": str(start + size), "max": str(size)}
            headers["Link"] = self.link(request, params)
        return json_response({"items": page}, headers=headers)

    def link(self, request: Request, params: dict[str, str]) -> str:
        return f'<{self.emu.base_url(request)}{request.url.path.lstrip("/")}?{urlencode(params)}>; rel="next"'

    async def unknown(self, request: Request) -> Response:
        raise WebexError(404, "The requested resource could not be found.")

    # -- people -------------------------------------------------------------------------------------
    async def people_me(self, request: Request) -> Response:
        return json_response(caller(request).to_json())

    async def people_list(self, request: Request) -> Response:
        me, q = caller(request), request.query_params
        with self.store.lock:
            people = list(self.store.people.values())
        if q.get("email"):
            people = [p for p in people if p.email == q["email"].lower() and p.org_id == me.org_id]
        elif q.get("id"):
            wanted = set(q["id"].split(","))
            people = [p for p in people if p.id in wanted]
        elif q.get("displayName"):
            prefix = q["displayName"].lower()
            people = [p for p in people if p.name.lower().startswith(prefix) and p.org_id == me.org_id]
        else:
            raise WebexError(400, "email, displayName or id is required.")
        return self.paged(request, [p.to_json() for p in people])

    async def people_get(self, request: Request) -> Response:
        return json_response(self.store.person(request.path_params["id"]).to_json())

    # -- rooms --------------------------------------------------------------------------------------
    async def rooms_create(self, request: Request) -> Response:
        return json_response(self.store.create_room(caller(request), await json_body(request)).to_json())

    async def rooms_list(self, request: Request) -> Response:
        q = request.query_params
        rooms = self.store.list_rooms(caller(request), q.get("type"), q.get("sortBy"))
        if q.get("teamId"):
            rooms = [r for r in rooms if r.team_id == q["teamId"]]
        return self.paged(request, [r.to_json() for r in rooms])

    async def rooms_get(self, request: Request) -> Response:
        return json_response(self.store.readable_room(caller(request), request.path_params["id"]).to_json())

    async def rooms_update(self, request: Request) -> Response:
        body = await json_body(request)
        return json_response(self.store.update_room(caller(request), request.path_params["id"], body).to_json())

    async def rooms_delete(self, request: Request) -> Response:
        self.store.delete_room(caller(request), request.path_params["id"])
        return no_content()

    # -- memberships --------------------------------------------------------------------------------
    def membership_json(self, membership_id: str) -> dict[str, Any]:
        s = self.store
        with s.lock:
            m = s.memberships[membership_id]
            return m.to_json(s.people[m.person_id], s.rooms[m.room_id])

    async def memberships_create(self, request: Request) -> Response:
        membership = self.store.add_member(caller(request), await json_body(request))
        return json_response(self.membership_json(membership.id))

    async def memberships_list(self, request: Request) -> Response:
        me, q, s = caller(request), request.query_params, self.store
        with s.lock:
            if q.get("roomId"):
                s.readable_room(me, q["roomId"])
                found = s.members(q["roomId"])
            elif q.get("personEmail") or q.get("personId"):
                raise WebexError(400, "roomId is required when filtering by person.")
            else:
                found = [m for m in s.memberships.values() if m.person_id == me.id]
            if q.get("personId"):
                found = [m for m in found if m.person_id == q["personId"]]
            if q.get("personEmail"):
                found = [m for m in found if s.people[m.person_id].email == q["personEmail"].lower()]
            items = [self.membership_json(m.id) for m in found]
        return self.paged(request, items)

    async def memberships_get(self, request: Request) -> Response:
        membership = self.store.readable_membership(caller(request), request.path_params["id"])
        return json_response(self.membership_json(membership.id))

    async def memberships_update(self, request: Request) -> Response:
        body = await json_body(request)
        membership = self.store.update_membership(caller(request), request.path_params["id"], body)
        return json_response(self.membership_json(membership.id))

    async def memberships_delete(self, request: Request) -> Response:
        self.store.remove_member(caller(request), request.path_params["id"])
        return no_content()

    # -- messages -----------------------------------------------------------------------------------
    async def messages_create(self, request: Request) -> Response:
        me, base = caller(request), self.emu.base_url(request)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            body, upload = await self._multipart(request)
        else:
            body, upload = await json_body(request), None
        return json_response(self.messages.create(me, body, upload, base).to_json(base))

    async def _multipart(self, request: Request) -> tuple[dict[str, Any], Upload | None]:
        form = await request.form()
        body: dict[str, Any] = {}
        uploads: list[Upload] = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                name = value.filename or "file"
                uploads.append(Upload(name, value.content_type or "application/octet-stream", await value.read()))
            else:
                body[key] = value
        if len(uploads) > 1:
            raise WebexError(400, "Only one file may be attached to a message.")
        return body, (uploads[0] if uploads else None)

    async def messages_list(self, request: Request) -> Response:
        query = dict(request.query_params)
        found, more = self.messages.page(caller(request), query)
        base = self.emu.base_url(request)
        headers = {}
        if more:
            # Next page: older than the last message of this one, everything else kept.
            params = query | {"beforeMessage": found[-1].id, "max": str(len(found))}
            headers["Link"] = self.link(request, params)
        return json_response({"items": [m.to_json(base) for m in found]}, headers=headers)

    async def messages_get(self, request: Request) -> Response:
        msg = self.messages.get(caller(request), request.path_params["id"])
        return json_response(msg.to_json(self.emu.base_url(request)))

    async def messages_edit(self, request: Request) -> Response:
        base = self.emu.base_url(request)
        msg = self.messages.edit(caller(request), request.path_params["id"], await json_body(request), base)
        return json_response(msg.to_json(base))

    async def messages_delete(self, request: Request) -> Response:
        self.messages.delete(caller(request), request.path_params["id"], self.emu.base_url(request))
        return no_content()

    async def card_action_get(self, request: Request) -> Response:
        return json_response(self.emu.cards.get(caller(request), request.path_params["id"]).to_json())

    async def contents_get(self, request: Request) -> Response:
        allow = request.query_params.get("allow") == "unscannable"
        content = self.messages.content(caller(request), request.path_params["id"], allow_unscannable=allow)
        filename = content.name.replace('"', "")
        # Content-Type set by hand: Starlette would append "; charset=utf-8" to text/* types, Webex does not.
        headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Content-Type": content.mime}
        return Response(content.data, headers=headers)

    # -- webhooks -----------------------------------------------------------------------------------
    async def webhooks_create(self, request: Request) -> Response:
        return json_response(self.store.create_webhook(caller(request), await json_body(request)).to_json())

    async def webhooks_list(self, request: Request) -> Response:
        me = caller(request)
        with self.store.lock:
            hooks = [h.to_json() for h in self.store.webhooks.values() if h.owner_id == me.id]
        return self.paged(request, hooks)

    async def webhooks_get(self, request: Request) -> Response:
        return json_response(self.store.own_webhook(caller(request), request.path_params["id"]).to_json())

    async def webhooks_update(self, request: Request) -> Response:
        body = await json_body(request)
        return json_response(self.store.update_webhook(caller(request), request.path_params["id"], body).to_json())

    async def webhooks_delete(self, request: Request) -> Response:
        self.store.delete_webhook(caller(request), request.path_params["id"])
        return no_content()
