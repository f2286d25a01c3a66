"""Trigger webhook deliveries: signed, sent in order from one outbox thread, retried the way Zendesk retries.

Never inside the API request that saved the ticket: the save renders the body and queues it; the thread sends.
Each request carries ``X-Zendesk-Webhook-Id``, ``X-Zendesk-Webhook-Invocation-Id`` (the same on every retry of
one invocation), ``X-Zendesk-Webhook-Signature-Timestamp`` (ISO 8601 UTC, ``2026-11-22T18:04:05Z``) and
``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(signing secret, timestamp + body)), recomputed per attempt.

Retries (Zendesk's webhook retry rules): a 409 is retried up to 3 times; a 429 or 503 whose ``Retry-After`` is
under 60 seconds is retried up to 3 times after that wait (times ``retry_after_scale``, so tests need not
wait); a timeout or a refused connection up to 5 times. Anything else (2xx, other 4xx/5xx) is final.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from caseroom_sandbox.outbox import Outbox
from caseroom_sandbox.zendesk.rules import Invocation
from caseroom_sandbox.zendesk.state import Webhook
from caseroom_sandbox.zendesk.wire import iso, now, ulid

log = logging.getLogger(__name__)
CONTENT_TYPES = {"json": "application/json", "xml": "application/xml",
                 "form_encoded": "application/x-www-form-urlencoded"}  # fmt: skip
RETRIES_CONFLICT, RETRIES_THROTTLED, RETRIES_TIMEOUT = 3, 3, 5
RETRY_AFTER_CEILING_S = 60


@dataclass
class DeliveryKnobs:
    timeout_s: float = 12.0
    retry_after_scale: float = 1.0


@dataclass
class Delivery:
    """One attempt to deliver one invocation (a retried invocation appears once per attempt)."""

    webhook_id: str
    invocation_id: str
    trigger_id: int
    ticket_id: int
    attempt: int
    url: str
    method: str
    status: int | None
    error: str | None
    body: str
    signature: str
    timestamp: str
    at: str
    unknown_placeholders: list[str] = field(default_factory=list)


def sign(secret: str, timestamp: str, body: str) -> str:
    digest = hmac.new(secret.encode(), (timestamp + body).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def auth_headers(authentication: dict[str, Any] | None) -> dict[str, str]:
    if not authentication:
        return {}
    data = authentication.get("data") or {}
    kind = authentication.get("type")
    if kind == "basic_auth":
        raw = f"{data.get('username', '')}:{data.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    if kind == "bearer_token":
        return {"Authorization": f"Bearer {data.get('token', '')}"}
    if kind == "api_key":
        return {str(data.get("name", "")): str(data.get("value", ""))}
    return {}


class Deliverer(Outbox[tuple[Webhook, Invocation, str]]):
    def __init__(self, account_id: int, knobs: Callable[[], DeliveryKnobs]) -> None:
        super().__init__("zendesk-emulator-webhooks", timeout=30.0)
        self.account_id = account_id
        self.knobs = knobs

    def publish(self, invocations: list[Invocation]) -> None:
        """Queue each invocation as saved (its webhook's settings frozen now, as Zendesk queues them)."""
        for inv in invocations:
            self._put((Webhook(**vars(inv.webhook)), inv, ulid()))

    def _send(self, client: httpx.Client, item: tuple[Webhook, Invocation, str]) -> None:
        hook, inv, invocation_id = item
        conflicts = throttled = timeouts = 0
        attempt = 0
        while True:
            attempt += 1
            status, error, retry_after, stamp, signature = self._attempt(client, hook, inv, invocation_id)
            self._record(Delivery(hook.id, invocation_id, inv.trigger_id, inv.ticket_id, attempt, hook.endpoint,
                                  hook.http_method, status, error, inv.body, signature, stamp, iso(now()),
                                  list(inv.unknown_placeholders)))  # fmt: skip
            if status == 409 and conflicts < RETRIES_CONFLICT:
                conflicts += 1
                continue
            if status in (429, 503) and retry_after is not None and throttled < RETRIES_THROTTLED:
                throttled += 1
                time.sleep(retry_after * self.knobs().retry_after_scale)
                continue
            if status is None and timeouts < RETRIES_TIMEOUT:
                timeouts += 1
                continue
            if status is None or status >= 300:
                log.info("webhook %s: invocation %s gave up after %d attempts", hook.id, invocation_id, attempt)
            return

    def _attempt(
        self, client: httpx.Client, hook: Webhook, inv: Invocation, invocation_id: str
    ) -> tuple[int | None, str | None, float | None, str, str]:
        stamp = iso(now())
        body = "" if hook.http_method in ("GET", "DELETE") else inv.body
        signature = sign(hook.secret, stamp, body)
        headers = {
            "Content-Type": CONTENT_TYPES.get(hook.request_format, "application/json"),
            "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Account-Id": str(self.account_id),
            "X-Zendesk-Webhook-Id": hook.id,
            "X-Zendesk-Webhook-Invocation-Id": invocation_id,
            "X-Zendesk-Webhook-Signature": signature,
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        }
        headers |= dict(hook.custom_headers) | auth_headers(hook.authentication)
        try:
            response = client.request(hook.http_method, hook.endpoint, content=body.encode() or None,
                                      headers=headers, timeout=self.knobs().timeout_s)  # fmt: skip
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}", None, stamp, signature
        raw = response.headers.get("retry-after", "")
        retry_after = float(raw) if raw.strip().isdigit() and int(raw) < RETRY_AFTER_CEILING_S else None
        return response.status_code, None, retry_after, stamp, signature
