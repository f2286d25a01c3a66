"""Callback events: their envelope, the outbox they wait in, and their signed delivery.

Each event is a job of its own (``DELIVER_KIND``), queued in the transaction that decided it and keyed by its id,
so it is queued once and delivered at least once: every retry sends the same id, and the receiver drops an id it has
seen. A case's events share a lane and so arrive in the order they were queued. The body is signed like the inbound
webhook (``X-CaseRoom-Timestamp``, ``X-CaseRoom-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>``) with
the callback's own secret and a fresh timestamp per attempt; file links are minted per attempt too, so a delivery
retried for a day still carries links that work.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import Session, col

from bot import __version__, filing
from bot.config import http_trust
from bot.crm_webhook import sign
from bot.events import WEBHOOK_CRM
from bot.models import Job, StoredFile
from bot.services import Services
from integrations.crm import PermanentCRMError, TransientCRMError
from integrations.failures import retry_after_seconds
from integrations.webhook import links
from integrations.webhook.settings import CallbackSettings

DELIVER_KIND = "callback.deliver"
RETRYABLE = {408, 425, 429}  # and every 5xx: the receiver may take it later


def envelope(event_id: str, type_: str, case_crm_id: str, case_number: str, at: datetime,
             data: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {"id": event_id, "type": type_, "created_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "case": {"id": case_crm_id, "number": case_number}, "data": data}  # fmt: skip


Outbox = tuple[str, dict[str, Any], str, str | None]  # (kind, payload, key, lane), as the queue takes many


def job(case_id: int, event: dict[str, Any], attach: dict[str, Any] | None = None) -> Outbox:
    """The event as an outbox job: (kind, payload, key, lane). ``attach`` names the stored files the sender turns
    into file objects: ``{"file": id}`` or ``{"files": [ids], "transcript": [ids]}``."""
    payload = {"case_id": case_id, "case_number": event["case"]["number"], "event": event, "attach": attach or {}}
    return DELIVER_KIND, payload, f"callback:{event['id']}", f"callback:{case_id}"


def enqueue(s: Session, sv: Services, jobs: Iterable[Outbox]) -> None:
    """Queue events in the caller's transaction (an id queued before is skipped)."""
    batch = list(jobs)
    if batch:
        sv.queue.enqueue_many(s, batch)


class Sender:
    """Delivers one event per job; what the receiver answers decides retry or dead letter."""

    def __init__(self, sv: Services, cfg: CallbackSettings) -> None:
        assert cfg.url and cfg.secret
        self.sv, self.cfg, self.url, self.secret = sv, cfg, cfg.url, cfg.secret.get_secret_value()
        # No redirects: a callback answered with "go elsewhere" is not sent on to a host nobody configured.
        self.http = httpx.Client(timeout=cfg.timeout_seconds, verify=http_trust(), follow_redirects=False,
                                 headers={"User-Agent": f"CaseRoom/{__version__}"})  # fmt: skip

    def deliver(self, job_: Job) -> None:
        event = dict(job_.payload["event"])
        attach = job_.payload.get("attach") or {}
        if attach:
            event["data"] = {**event["data"], **self._files(attach)}
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-CaseRoom-Timestamp": ts,
                   "X-CaseRoom-Signature": sign(self.secret, ts, body), "X-CaseRoom-Event-Id": event["id"],
                   "X-CaseRoom-Event-Type": event["type"]}  # fmt: skip
        with self.sv.health.observed(WEBHOOK_CRM):  # the integrations page: how the receiver answers
            self._post(event, body, headers)

    def _post(self, event: dict[str, Any], body: bytes, headers: dict[str, str]) -> None:
        try:
            answer = self.http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientCRMError(f"callback {event['type']} {event['id']}: {type(exc).__name__}: {exc}") from None
        if answer.is_success:
            return
        said = f"callback {event['type']} {event['id']}: the receiver answered {answer.status_code}: " \
               f"{answer.text[:300]}"  # fmt: skip
        if answer.status_code in RETRYABLE or answer.status_code >= 500:
            wait = retry_after_seconds(answer.headers.get("Retry-After"))
            raise TransientCRMError(said, retry_after=min(wait, 3600.0) if wait is not None else None)
        raise PermanentCRMError(said)

    def _files(self, attach: dict[str, Any]) -> dict[str, Any]:
        ids = [attach["file"]] if "file" in attach else [*attach.get("transcript", []), *attach.get("files", [])]
        with self.sv.db.session() as s:
            rows = {f.id: f for f in s.execute(select(StoredFile).where(col(StoredFile.id).in_(ids))).scalars()}
        expires = int(time.time()) + self.cfg.link_seconds

        def obj(file_id: int) -> dict[str, Any]:
            f = rows.get(file_id)
            if f is None:  # purged after its keeping time: named by id, no link
                return {"id": file_id, "gone": True}
            out: dict[str, Any] = {"id": file_id, "name": f.name, "mime": f.mime, "size": f.size, "sha256": f.sha256,
                                   "url": links.mint(self.sv.settings.public_url, self.secret, file_id, expires),
                                   "url_expires_at": _iso(expires)}  # fmt: skip
            if f.size <= self.cfg.inline_bytes:
                out["content_base64"] = base64.b64encode(f.content).decode()
            return out

        if "file" in attach:
            return {"file": obj(attach["file"])}
        return {"transcript": [obj(i) for i in attach.get("transcript", [])],
                "files": [obj(i) for i in attach.get("files", [])]}  # fmt: skip

    def undelivered(self, job_: Job, error: str) -> None:
        """An event the receiver refused for good, or that used all its attempts: on the case's timeline."""
        event = job_.payload["event"]
        filing.failed_for_good(self.sv, job_, f"deliver the {event['type']} callback ({event['id']})", error)


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")
