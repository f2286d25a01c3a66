"""A local emulator of the Zendesk Support API and of trigger webhooks, for tests and `make run`.

It is a test double at the network boundary: CaseRoom talks to it through the real ``zenpy`` over real HTTP.
zenpy always builds ``https://{subdomain}.zendesk.com``; point it here with two environment variables::

    emu = ZendeskEmulator(subdomain="caseroom", page_size=100)
    server = emu.start()                                   # plain HTTP on 127.0.0.1
    os.environ["ZENPY_FORCE_NETLOC"] = server.url.removeprefix("http://")
    os.environ["ZENPY_FORCE_SCHEME"] = "http"
    zd = Zenpy(subdomain=emu.subdomain, email=emu.agent_email, token=emu.api_token)   # or oauth_token=...

Auth (``/api/v2`` only): Basic ``{agent_email}/token:{api_token}`` or ``Authorization: Bearer {oauth_token}``,
both acting as the admin agent ``emu.agent_id``; anything else is 401 ``{"error": "Couldn't authenticate you"}``.
A trailing ``.json`` is optional on every path.

REST (``/api/v2``): ``tickets/{id}`` GET/PUT, ``tickets/{id}/comments``, ``users/{id}``, ``users/me``,
``users/show_many?ids=``, ``groups/{id}``, ``uploads?filename=[&token=]`` (raw body), ``attachments/{id}``,
``ticket_fields`` (+ ``/{id}``), ``webhooks`` (+ ``/{id}``, ``/{id}/signing_secret``), ``triggers`` (+ ``/{id}``),
``incremental/tickets/cursor`` (see ``export.py``). Attachment files are served without auth at their
``content_url`` (``/attachments/token/{token}/?name=...``). Ticket write rules: ``state.py``; trigger conditions,
actions and placeholders: ``rules.py``; webhook signing and retries: ``delivery.py``.

Every ``/api/v2`` answer carries ``X-Rate-Limit``/``X-Rate-Limit-Remaining`` and ``ratelimit-limit``/
``-remaining``/``-reset`` for a one-minute window of ``account_rate_limit`` (700, Enterprise) requests; past it
Zendesk's 429 with ``Retry-After``.

Faults (``emu.faults`` / ``POST /_sandbox/knobs``): a rate-limited call answers 429 with ``Retry-After`` and
Zendesk's plain-text body; an injected error answers 503. Rate-limit names (``Knobs.rate_limits``):
``tickets.show``, ``tickets.update``, ``tickets.comments``, ``users.show``, ``users.me``, ``users.show_many``,
``groups.show``, ``uploads.create``, ``attachments.show``, ``attachments.content``, ``ticket_fields.list|create|
show|update|delete``, ``webhooks.list|create|show|update|patch|delete|signing_secret``,
``triggers.list|create|show|update|delete``, ``incremental.tickets``.

Account knobs (same endpoint): ``export_lag_s`` (60), ``upload_ttl_s`` (3600), ``account_rate_limit`` (700),
``webhook_timeout_s`` (12), ``webhook_retry_after_scale`` (1.0; 0 retries throttled deliveries at once).

Python side: ``add_user``, ``add_group``, ``open_ticket``, ``update_ticket`` (both run the triggers like any
save), ``ticket``, ``comments``, ``attachment_bytes``, ``calls``, ``flush``, ``deliveries``; ``/_sandbox`` (no
auth, see ``control.py``) offers the same over HTTP.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from caseroom_sandbox.faults import FaultInjector, Knobs
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.zendesk.admin import Admin
from caseroom_sandbox.zendesk.control import Control
from caseroom_sandbox.zendesk.delivery import Deliverer, DeliveryKnobs
from caseroom_sandbox.zendesk.export import Export
from caseroom_sandbox.zendesk.rules import fire
from caseroom_sandbox.zendesk.state import Account, Saved
from caseroom_sandbox.zendesk.tickets import Tickets
from caseroom_sandbox.zendesk.view import comment_json, ticket_json
from caseroom_sandbox.zendesk.wire import ZendeskError, error_response, invalid_endpoint

__all__ = ["ZendeskEmulator", "method_name"]
VERBS = {"GET": "show", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "POST": "create"}
UPDATE_KEYS = {"status", "assignee_email", "assignee_id", "group_id", "priority", "subject", "tags", "comment",
               "author_email"}  # fmt: skip


@dataclass
class AccountKnobs:
    export_lag_s: float = 60.0  # incremental exports leave out the last minute's changes
    upload_ttl_s: float = 3600.0  # an upload token expires after 60 minutes
    account_rate_limit: int = 700  # requests per minute (Support Enterprise)


def method_name(http_method: str, path: str) -> str:
    """``PUT /api/v2/tickets/7`` -> ``tickets.update`` (the rate-limit key of ``Knobs.rate_limits``)."""
    if path.startswith("/attachments/token/"):
        return "attachments.content"
    parts = [p for p in path.removeprefix("/api/v2").split("/") if p]
    if parts[:2] == ["incremental", "tickets"]:
        return "incremental.tickets"
    if not parts:
        return "api"
    if len(parts) == 1:
        return f"{parts[0]}.{'list' if http_method == 'GET' else VERBS.get(http_method, http_method.lower())}"
    if len(parts) == 2:
        named = parts[1] in ("me", "show_many")
        return f"{parts[0]}.{parts[1] if named else VERBS.get(http_method, http_method.lower())}"
    return f"{parts[0]}.{parts[2]}"


class JsonSuffix:
    """The ASGI app: Zendesk accepts every path with or without ``.json``, so drop it before routing (the path
    as sent is kept in the scope for ``calls``)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith(".json"):
            scope = dict(scope, path=scope["path"][: -len(".json")])
            scope["zendesk.path"] = scope["path"] + ".json"
        await self.app(scope, receive, send)


class ZendeskEmulator:
    def __init__(
        self,
        subdomain: str = "caseroom",
        page_size: int = 100,
        *,
        seed: int | None = None,
        export_lag_s: float = 60.0,
    ) -> None:
        self.subdomain, self.page_size, self.seed = subdomain, page_size, seed
        self.account = Account(subdomain)
        self.account_id = 10_000_000 + sum(subdomain.encode()) % 1_000_000
        self.knobs = AccountKnobs(export_lag_s=export_lag_s)
        self.delivery_knobs = DeliveryKnobs()
        self.faults = FaultInjector(Knobs(seed=seed))
        self.agent_email = f"caseroom@{subdomain}.example"
        self.api_token = secrets.token_urlsafe(30)
        self.oauth_token = secrets.token_hex(32)
        self.agent_id = self.account.add_user("CaseRoom Integration", self.agent_email, "admin").id
        self.calls: list[tuple[str, str]] = []
        self.deliverer = Deliverer(self.account_id, lambda: self.delivery_knobs)
        self.server: ServerThread | None = None
        self._lock = threading.Lock()
        self._window = (time.monotonic(), 0)
        routes = Tickets(self).routes() + Export(self).routes() + Admin(self).routes() + Control(self).routes()
        self.starlette = Starlette(
            routes=routes,
            middleware=[Middleware(BaseHTTPMiddleware, dispatch=self._guard)],
            exception_handlers={ZendeskError: self._on_error, HTTPException: self._on_http},  # type: ignore[dict-item]
        )
        self.app = JsonSuffix(self.starlette)

    # -- serving ------------------------------------------------------------------------------------
    def start(self) -> ServerThread:
        self.server = ServerThread(self.app).start()
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def base_url(self) -> str:
        return self.server.url if self.server is not None else f"https://{self.subdomain}.zendesk.com"

    # -- the account, as its people act in it ---------------------------------------------------------
    def add_user(self, name: str, email: str, role: str = "end-user", iana_time_zone: str | None = None) -> int:
        """The user's id; a user with that e-mail is kept (its role raised to ``role`` if lower)."""
        return self.account.add_user(name, email, role, iana_time_zone).id

    def add_group(self, name: str) -> int:
        return self.account.add_group(name).id

    def save(self, ticket_id: int | None, changes: dict[str, Any], *, actor_id: int, channel: str) -> Saved:
        """Every ticket save: commit, then run the triggers on it and queue their webhooks, in save order."""
        with self.account.lock:
            saved = self.account.save_ticket(ticket_id, changes, actor_id=actor_id, channel=channel)
            self.deliverer.publish(fire(self.account, saved))
        return saved

    def open_ticket(
        self,
        subject: str,
        requester_email: str,
        *,
        requester_name: str = "",
        description: str = "",
        assignee_email: str | None = None,
        group_id: int | None = None,
        priority: str = "normal",
        tags: Iterable[str] = (),
        custom_fields: dict[int, Any] | None = None,
    ) -> int:
        """A customer opens a ticket on the web form: ``description`` (else the subject) is its first public
        comment; New without an assignee, Open with one. Raises ZendeskError as the API would refuse it."""
        requester = self.account.add_user(requester_name, requester_email)
        changes: dict[str, Any] = {
            "requester_id": requester.id, "subject": subject, "priority": priority, "tags": list(tags),
            "comment": {"body": description or subject, "public": True, "author_id": requester.id},
        }  # fmt: skip
        if assignee_email:
            changes["assignee_id"] = self.account.add_user("", assignee_email, "agent").id
        if group_id is not None:
            changes["group_id"] = group_id
        if custom_fields:
            changes["custom_fields"] = [{"id": fid, "value": value} for fid, value in custom_fields.items()]
        return self.save(None, changes, actor_id=requester.id, channel="web").ticket.id

    def update_ticket(self, ticket_id: int, **changes: Any) -> dict[str, Any]:
        """An agent edits the ticket in Zendesk: ``status``, ``assignee_email`` or ``assignee_id`` (None clears),
        ``group_id``, ``priority``, ``subject``, ``tags``, ``comment=(body, public)``. The actor (and comment
        author) is ``author_email`` if given, else the assignee, else the admin agent. Returns the ticket JSON."""
        unknown = set(changes) - UPDATE_KEYS
        if unknown:
            raise TypeError(f"update_ticket() got unknown changes: {', '.join(sorted(unknown))}")
        out = dict(changes)
        author_email = out.pop("author_email", None)
        if "assignee_email" in out:
            email = out.pop("assignee_email")
            out["assignee_id"] = self.account.add_user("", email, "agent").id if email else None
        current = self.account.ticket(ticket_id).assignee_id
        actor = (self.account.add_user("", author_email).id if author_email
                 else out.get("assignee_id", current) or self.agent_id)  # fmt: skip
        if "comment" in out:
            body, public = out.pop("comment")
            out["comment"] = {"body": body, "public": bool(public), "author_id": actor}
        self.save(ticket_id, out, actor_id=actor, channel="web")
        return self.ticket(ticket_id)

    # -- inspection ---------------------------------------------------------------------------------
    def ticket(self, ticket_id: int) -> dict[str, Any]:
        """The ticket as ``GET /api/v2/tickets/{id}`` answers it."""
        with self.account.lock:
            return ticket_json(self.account, self.account.ticket(ticket_id), self.base_url)

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        with self.account.lock:
            t = self.account.ticket(ticket_id)
            return [comment_json(self.account, c, self.base_url) for c in t.comments]

    def attachment_bytes(self, attachment_id: int) -> bytes:
        with self.account.lock:
            return self.account.attachments[attachment_id].data

    def expire_uploads(self) -> None:
        """Every pending upload token expires now (what an hour of waiting would do)."""
        self.account.expire_uploads()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued webhook delivery has been attempted (retries included); True if so."""
        return self.deliverer.flush(timeout)

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """One record per attempt: webhook_id, invocation_id, status, body, signature, timestamp, attempt..."""
        return self.deliverer.deliveries()

    # -- knobs --------------------------------------------------------------------------------------
    def set_knobs(self, **changes: Any) -> None:
        account_names = {f.name for f in fields(AccountKnobs)}
        delivery_names = {f"webhook_{f.name}" for f in fields(DeliveryKnobs)}
        for name in [n for n in changes if n in account_names]:
            setattr(self.knobs, name, changes.pop(name))
        for name in [n for n in changes if n in delivery_names]:
            setattr(self.delivery_knobs, name.removeprefix("webhook_"), changes.pop(name))
        if changes:
            self.faults.update(**changes)

    def knob_values(self) -> dict[str, Any]:
        delivery = {f"webhook_{k}": v for k, v in asdict(self.delivery_knobs).items()}
        return asdict(self.knobs) | delivery | self.faults.knobs.to_dict()

    def snapshot(self) -> dict[str, Any]:
        a = self.account
        with a.lock:
            counts = {"subdomain": self.subdomain, "users": len(a.users), "groups": len(a.groups),
                      "tickets": sorted(a.tickets), "webhooks": sorted(a.webhooks),
                      "triggers": sorted(a.triggers)}  # fmt: skip
        return counts | {"calls": len(self.calls), "deliveries": len(self.deliveries), "knobs": self.knob_values()}

    def reset(self) -> None:
        """Empty the account (the same admin agent and credentials), calls, deliveries and knobs."""
        self.account.clear()
        self.agent_id = self.account.add_user("CaseRoom Integration", self.agent_email, "admin").id
        with self._lock:
            self.calls.clear()
            self._window = (time.monotonic(), 0)
        self.deliverer.clear()
        self.knobs = AccountKnobs(export_lag_s=self.knobs.export_lag_s)
        self.delivery_knobs = DeliveryKnobs()
        self.faults.configure(Knobs(seed=self.seed))

    # -- plumbing -----------------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return secrets.compare_digest(credentials.strip(), self.oauth_token)
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user.lower() == f"{self.agent_email}/token".lower() and secrets.compare_digest(password, self.api_token)

    def _count(self) -> tuple[int, int]:
        """Count this request in the current one-minute window: (remaining, seconds until the window resets)."""
        with self._lock:
            start, used = self._window
            moment = time.monotonic()
            if moment - start >= 60:
                start, used = moment, 0
            used += 1
            self._window = (start, used)
        return self.knobs.account_rate_limit - used, max(1, math.ceil(60 - (moment - start)))

    async def _guard(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path.startswith("/_sandbox"):
            return await call_next(request)
        with self._lock:
            self.calls.append((request.method, str(request.scope.get("zendesk.path", path))))
        if not path.startswith("/api/v2/"):
            name = method_name(request.method, path)
            return await self.faults.apply(name, request, call_next, on_ratelimit=lambda s: self._rate_limited(name, s),
                                           on_error=self._unavailable)  # fmt: skip
        remaining, reset = self._count()
        if not self._authorized(request):
            return self._limited(error_response(ZendeskError(401, {"error": "Couldn't authenticate you"})), 0, reset)
        if remaining < 0:
            return self._limited(self._rate_limited("", reset), 0, reset)
        name = method_name(request.method, path)
        response = await self.faults.apply(name, request, call_next, on_ratelimit=lambda s: self._rate_limited(name, s),
                                           on_error=self._unavailable)  # fmt: skip
        return self._limited(response, remaining, reset)

    def _limited(self, response: Response, remaining: int, reset: int) -> Response:
        limit, left = str(self.knobs.account_rate_limit), str(max(0, remaining))
        response.headers.update({"X-Rate-Limit": limit, "X-Rate-Limit-Remaining": left, "ratelimit-limit": limit,
                                 "ratelimit-remaining": left, "ratelimit-reset": str(reset)})  # fmt: skip
        return response

    @staticmethod
    def _rate_limited(name: str, retry_after: int) -> Response:
        text = ("Rate limit for ticket updates exceeded, please wait before updating this ticket again"
                if name == "tickets.update" else "Number of allowed API requests per minute exceeded")  # fmt: skip
        return Response(text, status_code=429, headers={"Retry-After": str(retry_after)}, media_type="text/html")

    @staticmethod
    def _unavailable() -> Response:
        return Response("Service Unavailable", status_code=503, headers={"Retry-After": "1"}, media_type="text/plain")

    async def _on_error(self, request: Request, exc: ZendeskError) -> Response:
        return error_response(exc)

    async def _on_http(self, request: Request, exc: HTTPException) -> Response:
        return error_response(invalid_endpoint())
