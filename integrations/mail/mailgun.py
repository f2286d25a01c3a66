"""Replies through Mailgun's inbound routing: a route whose action is ``forward()`` to
``https://<caseroom>/webhooks/mailgun/mime`` (the URL must end in ``mime``: Mailgun then posts the mail as it came,
raw MIME, instead of its own parse).

Each POST carries ``recipient`` and ``sender`` (the SMTP envelope), ``from``, ``subject``, ``body-mime``, and the
signature triple: ``timestamp``, ``token`` (50 random characters) and ``signature``, the hex HMAC-SHA256 of
timestamp + token under the domain's HTTP webhook signing key. The signature covers only the triple, not the mail,
so a token is taken once: a request whose token was seen before is a replay and is refused, like a stale or forged
one (401). The POST is urlencoded, or multipart when the mail has attachments.

Mailgun reads the answer: 200 is done, 406 is refused for good, anything else is retried for 8 hours. So a taken
mail (stored with its job first) or a machine's mail (dropped) gets 200; a refused one gets 406, and its sender a
bounce from CaseRoom (Mailgun accepted the mail already, so nobody else will tell them), except when DMARC failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from bot import metrics
from bot.ingest import Ingest, JobSpec
from bot.services import Services
from integrations.mail import bounces, intake, parse
from integrations.mail.settings import MailSettings

PATH = "/webhooks/mailgun/mime"
SOURCE = "mailgun"  # the webhook's label, and the source its tokens are kept under
TOKEN_SOURCE = "mailgun.token"  # noqa: S105 — a source label: each request's token is kept under it


def sign(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()


def body_limit(cfg: MailSettings) -> int:
    """The largest request this route reads: the largest mail taken, urlencoded (up to three bytes a byte), and the
    other fields; a larger mail still gets its 406 and bounce, never a 413 that Mailgun would retry for hours."""
    return 3 * cfg.mail_max_bytes + 64 * 1024


def router(sv: Services, ingest: Ingest, cfg: MailSettings, key: str, tolerance: int,
           now: Callable[[], float]) -> APIRouter:  # fmt: skip
    r = APIRouter()
    limit = body_limit(cfg)

    def answer(status: int, outcome: str, message: str) -> Response:
        metrics.WEBHOOKS.labels(source=SOURCE, outcome=outcome).inc()
        return JSONResponse({"ok": status == 200, "outcome": outcome, "message": message}, status_code=status)

    @r.post(PATH, tags=["webhooks"])
    async def mailgun_mime(request: Request) -> Response:
        async with request.form(max_files=100, max_fields=100, max_part_size=limit) as form:
            fields = {k: (await v.read()).decode("utf-8", "surrogateescape") if isinstance(v, UploadFile) else v
                      for k, v in form.items() if k in ("timestamp", "token", "signature", "recipient", "sender",
                                                         "body-mime")}  # fmt: skip
        timestamp, token, signature = (fields.get(k, "") for k in ("timestamp", "token", "signature"))
        if not (timestamp and token and signature):
            return answer(401, "unauthorized", "timestamp, token and signature are required (Mailgun signs each "
                                               "request with the domain's HTTP webhook signing key)")  # fmt: skip
        if not timestamp.isdigit() or abs(now() - int(timestamp)) > tolerance:
            return answer(401, "unauthorized", "stale timestamp (replayed, or the clocks disagree)")
        if not hmac.compare_digest(sign(key, timestamp, token), signature.strip().lower()):
            return answer(401, "unauthorized", "bad signature: not signed with CASEROOM_MAILGUN_SIGNING_KEY")
        if not await ingest.accept_async(TOKEN_SOURCE, token, json.dumps({"timestamp": timestamp}), []):
            return answer(401, "unauthorized", "this token was used before: a replayed request")
        raw, recipients = fields.get("body-mime", ""), fields.get("recipient", "")
        if not raw or not recipients:
            return answer(400, "malformed", "body-mime and recipient are required: the route must forward() to a "
                                            "URL ending in mime, so Mailgun posts the raw mail")  # fmt: skip
        mime = raw.encode("utf-8", "surrogateescape")
        sender = fields.get("sender", "")
        verdict = await intake.take(sv, ingest, cfg, mime, sender,
                                    [a.strip() for a in recipients.split(",") if a.strip()])  # fmt: skip
        if verdict.outcome in (intake.Outcome.TAKEN, intake.Outcome.DROPPED):
            return answer(200, verdict.outcome.value, verdict.reason)
        if verdict.outcome == intake.Outcome.REFUSED:
            msg = parse.headers(mime)
            bounce = bounces.compose(cfg, to=sender, recipient=recipients, subject=str(msg.get("Subject", "")),
                                     message_id=str(msg.get("Message-ID", "")).strip(), reason=verdict.reason,
                                     key=token)  # fmt: skip
            await ingest.accept_async(bounces.KIND, token, json.dumps({"to": sender, "reason": verdict.reason}),
                                      [JobSpec(bounces.KIND, bounces.payload(bounce))])  # fmt: skip
        return answer(406, verdict.outcome.value, verdict.reason)

    return r
