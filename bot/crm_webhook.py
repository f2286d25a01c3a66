"""`POST /webhooks/crm`: generic JSON case events from any CRM, signed with HMAC-SHA256.

Headers: ``X-CaseRoom-Timestamp: <unix seconds>`` and
``X-CaseRoom-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Collection
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot import metrics, wirejson
from bot.events import WEBHOOK_CRM, CaseEvent
from bot.ingest import Ingest, JobSpec
from handlers import case_events
from integrations.crm import CaseSnapshot, Person

PATH = "/webhooks/crm"
EMAIL = re.compile(r"^[^@\s<>&\"']+@[^@\s<>&\"']+\.[^@\s<>&\"']+$")


class SignatureError(Exception):
    pass


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float, tolerance: int) -> None:
    if not timestamp or not signature:
        raise SignatureError("missing X-CaseRoom-Timestamp or X-CaseRoom-Signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError("X-CaseRoom-Timestamp is not a unix time") from None
    if abs(now - ts) > tolerance:
        raise SignatureError("stale timestamp (replayed or clock skew)")
    # Constant-time comparison over every candidate signature (a sender may rotate secrets: "v1=a,v1=b").
    expected = sign(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, cand.strip()) for cand in signature.split(",")):
        raise SignatureError("signature mismatch")


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: str = Field(max_length=254)
    name: str = Field("", max_length=200)
    timezone: str | None = Field(None, max_length=64)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        if not EMAIL.match(v):
            raise ValueError("not an e-mail address")
        return v.lower()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone") from None
        return v


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    number: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    subject: str = Field("", max_length=1000)
    description: str = Field("", max_length=32000)
    status: str = Field("", max_length=100)
    priority: str = Field("", max_length=40)
    platform: str | None = Field(None, max_length=40)  # one of the configured chat platforms (checked at intake)
    customer: PersonIn | None = None
    engineer: PersonIn | None = None
    link: str | None = Field(None, max_length=2000, pattern=r"^https?://")


class EventIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=255)
    type: Literal["case.opened", "case.updated", "case.closed"]
    occurred_at: AwareDatetime
    case: CaseIn


def to_event(e: EventIn) -> CaseEvent:
    c = e.case

    def person(p: PersonIn | None) -> Person | None:
        return Person(p.email, p.name, p.timezone) if p else None

    snap = CaseSnapshot(
        crm_id=c.id, number=c.number, subject=c.subject, description=c.description, status=c.status,
        priority=c.priority, is_closed=e.type == "case.closed", customer=person(c.customer),
        engineer=person(c.engineer), platform=c.platform, link=c.link, modified_at=e.occurred_at,
    )  # fmt: skip
    return CaseEvent(event_id=e.id, type=e.type, occurred_at=e.occurred_at, case=snap, crm=WEBHOOK_CRM)


def router(ingest: Ingest, secret: str | None, tolerance: int, now: Callable[[], float] = time.time,
           platforms: Callable[[], Collection[str]] | None = None) -> APIRouter:  # fmt: skip
    """``POST /webhooks/crm``; ``platforms`` gives the chat platforms configured here (a case naming another is
    refused; unset, any is taken)."""
    r = APIRouter()

    @r.post(PATH, tags=["webhooks"])
    async def crm_webhook(request: Request) -> Response:
        body = await request.body()
        if not secret:
            metrics.WEBHOOKS.labels(source="crm", outcome="unconfigured").inc()
            return _error(401, "CASEROOM_CRM_WEBHOOK_SECRET is not set: generic CRM webhooks are refused")
        try:
            verify(secret, request.headers.get("x-caseroom-timestamp"), request.headers.get("x-caseroom-signature"),
                   body, now(), tolerance)  # fmt: skip
        except SignatureError as exc:
            metrics.WEBHOOKS.labels(source="crm", outcome="unauthorized").inc()
            return _error(401, str(exc))
        try:
            event = to_event(EventIn.model_validate(wirejson.loads(body)))
        except (ValueError, ValidationError) as exc:
            metrics.WEBHOOKS.labels(source="crm", outcome="malformed").inc()
            return _error(400, _explain(exc))
        known = platforms() if platforms is not None else None
        if known is not None and event.case.platform is not None and event.case.platform not in known:
            metrics.WEBHOOKS.labels(source="crm", outcome="malformed").inc()
            return _error(400, f"case.platform: {event.case.platform!r} is not a chat platform configured here "
                               f"({', '.join(sorted(known)) or 'none'})")  # fmt: skip
        new = await ingest.accept_async(
            "crm", event.event_id, body.decode(),
            [JobSpec(case_events.KIND, event.to_payload(), lane=case_events.lane(event.case.crm_id))],
        )  # fmt: skip
        metrics.WEBHOOKS.labels(source="crm", outcome="accepted" if new else "duplicate").inc()
        return JSONResponse({"ok": True, "duplicate": not new}, status_code=200)

    return r


def _explain(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:10])
    return f"body is not valid JSON: {exc}"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)
