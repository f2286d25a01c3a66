"""A local emulator of the Webex messaging API, for tests and `make run` without credentials.

It is a test double at the network boundary: CaseRoom talks to it through the real ``webexpythonsdk`` over
real HTTP. Serve ``emu.app`` with ``ServerThread(emu.app).start()`` and point the SDK at ``f"{url}/v1/"``
(trailing slash required).

Python side: ``WebexEmulator(seed, bot_email, bot_name, org_id, observer_email, *, observer_name,
observer_compliance)``; ``emu.app``, ``emu.bot_token``, ``emu.observer_token`` (a machine account that sees
every message of the rooms it is in; with ``observer_compliance=True`` a compliance officer who reads every
room), ``emu.add_person(email, name)`` (person JSON + ``token``), ``emu.faults``, ``emu.public_url`` (optional:
absolute URLs are otherwise built from each request's base URL), ``emu.flush()`` (wait for webhook deliveries),
``emu.deliveries()``, ``emu.snapshot()``, ``emu.reset()``.

``/v1`` (bearer token required, Webex error bodies with a trackingId):
people (``me``, ``?email=``, ``?id=``, ``/{id}``), rooms, memberships, messages (JSON or multipart with one
``files`` part; adaptive cards in ``attachments``), contents, webhooks, ``attachment/actions/{id}``. Bots
listing a group room's messages must pass ``mentionedPeople=me``.

``/_sandbox`` (no auth): ``POST people``, ``POST act/message|act/join|act/leave|act/submit`` (press a card
button: ``{as_email, message_id, inputs}``; ``act/message`` takes ``file: {name, mime, content_b64, scan}`` or
``file: {link}``, a link on another host kept as given), ``POST files/{id}/scan``,
``GET state``, ``GET rooms/{id}/messages``, ``GET deliveries``, ``POST knobs``, ``POST reset``.

Per-method names for ``Knobs.rate_limits`` (``POST /_sandbox/knobs {"rate_limits": {name: {...}}}``):
``people.me``, ``people.list``, ``people.get``,
``rooms.create``, ``rooms.list``, ``rooms.get``, ``rooms.update``, ``rooms.delete``,
``memberships.create``, ``memberships.list``, ``memberships.get``, ``memberships.update``, ``memberships.delete``,
``messages.create``, ``messages.list``, ``messages.get``, ``messages.delete``,
``contents.get``, ``webhooks.create``, ``webhooks.list``, ``webhooks.get``, ``webhooks.update``,
``webhooks.delete``.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from caseroom_sandbox.faults import FaultInjector, Knobs
from caseroom_sandbox.webex.api import V1
from caseroom_sandbox.webex.cards import CardActions
from caseroom_sandbox.webex.control import Control
from caseroom_sandbox.webex.delivery import Dispatcher
from caseroom_sandbox.webex.messages import Messages
from caseroom_sandbox.webex.state import Store
from caseroom_sandbox.webex.wire import WebexError, error_response

__all__ = ["WebexEmulator", "method_name"]

DEFAULT_ORG = base64.urlsafe_b64encode(b"ciscospark://us/ORGANIZATION/0c6d2f6e-5a1f-4d3b-9a57-1d0c0ffee001").decode()
VERBS = {"POST": "create", "PUT": "update", "DELETE": "delete", "PATCH": "update"}


def method_name(http_method: str, path: str) -> str:
    """``GET /v1/rooms/{id}`` -> ``rooms.get``: the name rate limits are keyed by."""
    parts = [p for p in path.split("/") if p][1:]  # drop "v1"
    if not parts:
        return "unknown"
    if parts[:2] == ["people", "me"]:
        return "people.me"
    verb = VERBS.get(http_method) or ("get" if len(parts) > 1 else "list")
    return f"{parts[0]}.{verb}"


class WebexEmulator:
    def __init__(
        self,
        seed: int | None = None,
        bot_email: str = "caseroom@webex.bot",
        bot_name: str = "CaseRoom",
        org_id: str = DEFAULT_ORG,
        observer_email: str | None = "observer@sandbox.example",
        *,
        observer_name: str = "CaseRoom Observer",
        observer_compliance: bool = False,
    ) -> None:
        self.seed = seed
        self.public_url: str | None = None
        self.faults = FaultInjector(Knobs(seed=seed))
        self.store = Store(org_id, seed)
        self.messages = Messages(self.store)
        self.cards = CardActions(self.store)
        self.dispatcher = Dispatcher(self.store)
        self.store.on_event = self.dispatcher.publish
        self.bot = self.store.add_person(bot_email, bot_name, type="bot")
        self.observer = self.store.add_person(observer_email, observer_name) if observer_email else None
        if self.observer is not None:
            # A machine account sees what a member sees; a compliance officer sees every room of the org.
            self.observer.compliance = observer_compliance
        self.app = Starlette(
            routes=V1(self).routes() + Control(self).routes(),
            middleware=[Middleware(BaseHTTPMiddleware, dispatch=self._guard)],
            exception_handlers={WebexError: self._on_error},  # type: ignore[dict-item]
        )

    # -- identities ---------------------------------------------------------------------------------
    @property
    def bot_token(self) -> str:
        assert self.bot.token
        return self.bot.token

    @property
    def observer_token(self) -> str | None:
        return self.observer.token if self.observer else None

    def add_person(self, email: str, name: str) -> dict[str, Any]:
        person = self.store.add_person(email, name)
        return person.to_json() | {"token": person.token}

    # -- plumbing -----------------------------------------------------------------------------------
    def base_url(self, request: Request | None = None) -> str:
        """Absolute base ending in '/': the SDK rejects relative Link URLs and needs absolute contentUrls."""
        if self.public_url:
            return self.public_url.rstrip("/") + "/"
        return str(request.base_url) if request is not None else "http://127.0.0.1/"

    async def _guard(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not request.url.path.startswith("/v1/"):
            return await call_next(request)
        tracking = self.store.ids.tracking_id()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        person = self.store.person_by_token(token.strip()) if scheme.lower() == "bearer" and token else None
        if person is None:
            message = "The request requires a valid access token set in the Authorization request header."
            return error_response(401, message, tracking)
        request.state.person = person
        request.state.tracking = tracking
        return await self.faults.apply(
            method_name(request.method, request.url.path), request, call_next,
            on_ratelimit=lambda retry_after: error_response(
                429, "Too Many Requests: rate limit exceeded.", tracking, {"Retry-After": str(retry_after)}
            ),
            on_error=lambda: error_response(503, "Service Unavailable. Try again later.", tracking),
        )  # fmt: skip

    async def _on_error(self, request: Request, exc: WebexError) -> Response:
        tracking = getattr(request.state, "tracking", None) or self.store.ids.tracking_id()
        return error_response(exc.status, exc.message, tracking, exc.headers)

    # -- inspection ---------------------------------------------------------------------------------
    def deliveries(self) -> list[dict[str, Any]]:
        return self.dispatcher.deliveries()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait for queued webhook deliveries; True when none is left."""
        return self.dispatcher.flush(timeout)

    def snapshot(self) -> dict[str, Any]:
        s = self.store
        with s.lock:
            rooms = []
            for room in s.rooms.values():
                members = [
                    {"email": s.people[m.person_id].email, "isModerator": m.is_moderator, "membershipId": m.id}
                    for m in s.members(room.id)
                ]
                count = sum(1 for m in s.messages.values() if m.room_id == room.id)
                rooms.append(room.to_json() | {"members": members, "messageCount": count})
            return {
                "people": [p.to_json() for p in s.people.values()],
                "rooms": rooms,
                "webhooks": [h.to_json() for h in s.webhooks.values()],
                "deliveries": self.dispatcher.deliveries(),
                "knobs": self.faults.knobs.to_dict(),
            }

    def reset(self) -> None:
        """Empty rooms, messages, files, webhooks and deliveries; keep people and tokens; clear the knobs."""
        self.flush(timeout=5.0)
        self.store.clear()
        self.cards.clear()
        self.dispatcher.clear()
        self.faults.configure(Knobs(seed=self.seed))
