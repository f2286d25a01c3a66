"""`POST /webhooks/zendesk`: a Zendesk webhook, verified, stored, acknowledged; the job re-reads the ticket.

Zendesk signs each request with the webhook's signing secret: ``X-Zendesk-Webhook-Signature`` is the base64
HMAC-SHA256 of ``X-Zendesk-Webhook-Signature-Timestamp`` followed by the raw body. A missing, wrong or stale
signature is 401 before anything is stored. The body says only which ticket changed (the trigger's JSON, or a
``zen:event-type:ticket.*`` event): payloads can be stale and arrive out of order, so the job reads the ticket
again and acts on what Zendesk says now. Each change is stored under the ticket and its time of change (else the
invocation's id): a retried delivery, or the sweep finding the same change, adds nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from bot import metrics, wirejson
from bot.events import CaseEvent
from bot.ingest import Ingest, JobSpec
from handlers import case_events
from integrations.crm import CaseSnapshot
from integrations.zendesk.crm import NAME, NUMBER_PREFIX, crm_id, parse_time

PATH = "/webhooks/zendesk"
SIGNATURE = "x-zendesk-webhook-signature"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
INVOCATION = "x-zendesk-webhook-invocation-id"
# What the trigger `caseroom zendesk setup` creates sends: which ticket, and when it changed.
TRIGGER_BODY = {"ticket_id": "{{ticket.id}}", "updated_at": "{{ticket.updated_at_with_timestamp}}"}


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()).decode()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float, tolerance: int) -> None:
    if not timestamp or not signature:
        raise Refused(401, "missing X-Zendesk-Webhook-Signature or X-Zendesk-Webhook-Signature-Timestamp")
    try:
        at = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Refused(401, "X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 time") from None
    if at.tzinfo is None or abs(now - at.timestamp()) > tolerance:
        raise Refused(401, "stale X-Zendesk-Webhook-Signature-Timestamp (replayed or clock skew)")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        raise Refused(401, "signature mismatch (is ZENDESK_WEBHOOK_SECRET this webhook's signing secret?)")


def ticket_of(body: bytes) -> tuple[int, datetime | None, str | None]:
    """``(ticket id, when it changed if said, the event's own id if any)`` from either kind of body."""
    try:
        doc: Any = wirejson.loads(body)
    except ValueError as exc:
        raise Refused(400, f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise Refused(400, "body must be a JSON object")
    event_id = None
    if str(doc.get("type", "")).startswith("zen:event-type:ticket."):
        found = doc.get("detail")
        detail: dict[str, Any] = found if isinstance(found, dict) else {}
        raw, changed, event_id = detail.get("id"), detail.get("updated_at"), doc.get("id")
    else:
        raw, changed = doc.get("ticket_id"), doc.get("updated_at")
    if not str(raw or "").strip().isdigit():
        raise Refused(400, "no ticket id: expected {\"ticket_id\": \"{{ticket.id}}\", ...} or a "
                           "zen:event-type:ticket.* event")  # fmt: skip
    try:
        when = parse_time(str(changed)) if changed else None
    except ValueError:
        when = None  # a placeholder Zendesk left unrendered; the re-read has the real time
    return int(str(raw).strip()), when, str(event_id) if event_id else None


def change_key(ticket: int, changed: datetime) -> str:
    """One change of one ticket, however it is heard of (a webhook, its retry, the sweep): stored once."""
    return f"{ticket}:{changed.astimezone(UTC).isoformat()}"


def to_event(ticket: int, delivery: str, changed: datetime | None, now: datetime) -> CaseEvent:
    snap = CaseSnapshot(crm_id=crm_id(ticket), number=f"{NUMBER_PREFIX}{ticket}", subject="",
                        modified_at=changed)  # fmt: skip
    return CaseEvent(event_id=f"zendesk:{delivery}", type="case.updated", occurred_at=changed or now, case=snap,
                     crm=NAME, reread=True)  # fmt: skip


def router(ingest: Ingest, secret: str | None, tolerance: int, now: Callable[[], float] = time.time) -> APIRouter:
    r = APIRouter()

    @r.post(PATH, tags=["webhooks"])
    async def zendesk_webhook(request: Request) -> Response:
        body = await request.body()
        try:
            if not secret:
                raise Refused(401, "ZENDESK_WEBHOOK_SECRET is not set: Zendesk webhooks are refused")
            verify(secret, request.headers.get(TIMESTAMP), request.headers.get(SIGNATURE), body, now(), tolerance)
            ticket, changed, event_id = ticket_of(body)
        except Refused as exc:
            outcome = "unauthorized" if exc.status == 401 else "malformed"
            metrics.WEBHOOKS.labels(source="zendesk", outcome=outcome).inc()
            return JSONResponse({"ok": False, "error": str(exc)}, status_code=exc.status)
        delivery = change_key(ticket, changed) if changed else (
            request.headers.get(INVOCATION) or event_id or hashlib.sha256(body).hexdigest()[:32])
        event = to_event(ticket, delivery, changed, datetime.fromtimestamp(now(), UTC))
        job = JobSpec(case_events.KIND, event.to_payload(), lane=case_events.lane(event.case.crm_id))
        raw = json.dumps({"ticket_id": ticket, "delivery": delivery, "body": body.decode(errors="replace")})
        new = await ingest.accept_async("zendesk", delivery, raw, [job])
        metrics.WEBHOOKS.labels(source="zendesk", outcome="accepted" if new else "duplicate").inc()
        return JSONResponse({"ok": True, "duplicate": not new})

    return r
