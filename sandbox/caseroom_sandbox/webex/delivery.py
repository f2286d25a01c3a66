"""Signed webhook deliveries, sent from a background thread so that no API call waits on a receiver.

Who is told what follows Webex: a webhook hears only about rooms its owner is in (a compliance officer,
all rooms); a bot's ``messages`` webhook in a group room hears only of messages that mention the bot, and
of its own. ``X-Spark-Signature`` is the hex HMAC-SHA1 of the raw body keyed by the webhook's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from caseroom_sandbox.outbox import Outbox
from caseroom_sandbox.webex.model import Event, Webhook
from caseroom_sandbox.webex.state import Store
from caseroom_sandbox.webex.wire import timestamp

log = logging.getLogger(__name__)
BACKOFF = (0.2, 0.5)  # seconds before the 2nd and 3rd attempt
TIMEOUT = 5.0


@dataclass
class Delivery:
    """One attempt to deliver one notification (a retried notification appears once per attempt)."""

    webhook_id: str
    webhook_name: str
    owner_id: str
    url: str
    resource: str
    event: str
    attempt: int
    status: int | None
    error: str | None
    signature: str | None
    body: dict[str, Any]
    raw: str
    at: str


def matches(store: Store, hook: Webhook, event: Event) -> bool:
    if (
        hook.status != "active"
        or hook.resource not in (event.resource, "all")
        or hook.event not in (event.event, "all")
    ):
        return False
    owner = store.people.get(hook.owner_id)
    if owner is None or not _filters_pass(hook.filters(), event, owner.id):
        return False
    room = store.rooms.get(event.room_id)
    member = owner.compliance or store.membership_of(event.room_id, owner.id) is not None
    if event.resource == "memberships":
        return member or event.subject_id == owner.id  # the person removed hears of it too
    if event.resource == "attachmentActions":
        return event.subject_id == owner.id  # only the card's author hears of presses on it
    if not member:
        return False
    if owner.type == "bot" and room is not None and room.type == "group":
        return event.subject_id == owner.id or owner.id in event.mentioned
    return True


def _filters_pass(filters: dict[str, str], event: Event, owner_id: str) -> bool:
    data = event.data
    checks = {
        "roomId": event.room_id,
        "roomType": data.get("roomType"),
        "personId": data.get("personId"),
        "personEmail": data.get("personEmail"),
    }
    for key, value in filters.items():
        if key in checks and checks[key] != value:
            return False
        if key == "mentionedPeople" and (owner_id if value == "me" else value) not in event.mentioned:
            return False
        if key == "hasFiles" and (value == "true") != bool(data.get("files")):
            return False
    return True


def envelope(hook: Webhook, event: Event) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": hook.id,
        "name": hook.name,
        "targetUrl": hook.target_url,
        "resource": hook.resource,
        "event": event.event,
        "filter": hook.filter,
        "orgId": hook.org_id,
        "createdBy": hook.owner_id,
        "appId": hook.app_id,
        "ownedBy": "creator",
        "status": hook.status,
        "created": hook.created,
        "actorId": event.actor_id,
        "data": {k: v for k, v in event.data.items() if v is not None},
    }
    return {k: v for k, v in body.items() if v is not None}


def sign(secret: str, raw: bytes) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()


class Dispatcher(Outbox[tuple[Webhook, bytes]]):
    def __init__(self, store: Store, *, attempts: int = 3, timeout: float = TIMEOUT) -> None:
        super().__init__("webex-emulator-webhooks", timeout)
        self.store = store
        self.attempts = attempts

    def publish(self, event: Event) -> None:
        """Queue the notification for every matching webhook; called while the store's lock is held."""
        with self.store.lock:
            hooks = [h for h in self.store.webhooks.values() if matches(self.store, h, event)]
        for hook in hooks:
            raw = json.dumps(envelope(hook, event), separators=(",", ":")).encode()
            self._put((Webhook(**asdict(hook)), raw))

    def _send(self, client: httpx.Client, item: tuple[Webhook, bytes]) -> None:
        self._deliver(client, *item)

    def _deliver(self, client: httpx.Client, hook: Webhook, raw: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "Webex-Emulator-Webhooks"}
        signature = sign(hook.secret, raw) if hook.secret else None
        if signature:
            headers["X-Spark-Signature"] = signature
        body = json.loads(raw)
        for attempt in range(1, self.attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                status = client.post(hook.target_url, content=raw, headers=headers).status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self._record(
                Delivery(hook.id, hook.name, hook.owner_id, hook.target_url, hook.resource, body["event"], attempt,
                         status, error, signature, body, raw.decode(), timestamp())
            )  # fmt: skip
            if status is not None and status < 500 and status != 429:
                return
            if attempt < self.attempts:
                time.sleep(BACKOFF[min(attempt - 1, len(BACKOFF) - 1)])
        log.warning("webhook %s to %s failed after %d attempts", hook.name, hook.target_url, self.attempts)
