"""`POST /webhooks/webex`: verify ``X-Spark-Signature``, store the notification, answer at once.

The notification carries ids, never message text; a job (``notifications.py``) fetches what it needs.
One message reaches us through the bot's webhook and, with an observer, through the observer's too: the
delivery key is the resource, the event and the id (and, for an edit, when it was made), so both make one delivery
and each edit of a message is its own.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from bot import metrics, wirejson
from bot.ingest import Ingest, JobSpec

KIND = "webex.notification"
PATH = "/webhooks/webex"
HANDLED = {("memberships", "created"), ("memberships", "deleted"), ("messages", "created"), ("messages", "updated"),
           ("messages", "deleted"), ("attachmentActions", "created")}  # fmt: skip


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def router(ingest: Ingest, secret: str | None) -> APIRouter:
    r = APIRouter()

    @r.post(PATH, tags=["webhooks"])
    async def webex_webhook(request: Request) -> Response:
        body = await request.body()
        given = request.headers.get("x-spark-signature", "")
        if not secret:
            return _answer(401, "unconfigured", "WEBEX_WEBHOOK_SECRET is not set: Webex webhooks are refused")
        if not given or not hmac.compare_digest(signature(secret, body), given.lower()):
            return _answer(401, "unauthorized", "X-Spark-Signature missing or wrong")
        try:
            note = wirejson.loads(body)
            resource, event, data = note["resource"], note["event"], note["data"]
            key = f"{resource}:{event}:{data['id']}"
            if event == "updated":
                # Each edit is its own delivery. Without its time in the notice, the body tells a retry from a new
                # edit; the bot's and the observer's notices of one edit then meet on the job's key (the edit's time).
                key += ":" + str(data.get("updated") or hashlib.sha256(body).hexdigest()[:16])
        except (ValueError, KeyError, TypeError):
            return _answer(400, "malformed", "not a Webex webhook notification")
        if (resource, event) not in HANDLED:
            return _answer(200, "ignored", f"{resource}/{event} is not used")
        room = str(data.get("roomId", ""))
        new = await ingest.accept_async("webex", key, body.decode(), [JobSpec(KIND, note, lane=f"room:webex:{room}")])
        metrics.WEBHOOKS.labels(source="webex", outcome="accepted" if new else "duplicate").inc()
        return JSONResponse({"ok": True, "duplicate": not new})

    return r


def _answer(status: int, outcome: str, message: str) -> JSONResponse:
    metrics.WEBHOOKS.labels(source="webex", outcome=outcome).inc()
    return JSONResponse({"ok": status < 400, "error" if status >= 400 else "note": message}, status_code=status)
