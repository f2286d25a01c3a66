"""`POST /slack/events` through Bolt: verify the signature, store the event, acknowledge within 3 seconds.

The route checks ``X-Slack-Signature`` and its timestamp (401 otherwise, within
``CASEROOM_WEBHOOK_TOLERANCE_SECONDS``) and the body's shape (400) before Bolt sees it; Bolt answers
``url_verification`` and routes the rest. ``process_before_response`` keeps the ack until the event is stored,
so an ack always means "kept". Every subscribed event has a listener: Bolt answers 404 to an unmatched one,
which Slack retries. A listener that fails is a 500 (Bolt logs it), which Slack retries too.
Retries (``X-Slack-Retry-Num``) carry the same ``event_id``, which the delivery key deduplicates; a slash
command is keyed by its whole signed body, so the same request posted again is the same delivery.
The bot's own events are filtered by the inbound job, which knows the bot's user id without a request-time call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from slack_bolt import Ack, App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from bot import metrics, wirejson
from bot.events import Actor, CommandRequest
from bot.ingest import Ingest, JobSpec
from bot.services import Services
from handlers import command_requests
from integrations.slack.messenger import CANCEL_ACTION, CONFIRM_ACTION
from integrations.slack.text import SPOKEN, escape

KIND = "slack.inbound"
PATH = "/slack/events"
# What people said, and their edits and deletions of it; a channel's own notices (joins, topic) are not kept.
KEPT_SUBTYPES = SPOKEN | {"message_changed", "message_deleted"}


class _NotTheEnvironmentsToken(logging.Filter):
    """Drop Bolt's "`token` will be unused" warning: Bolt reads ``SLACK_BOT_TOKEN`` from the environment whatever
    we pass, and says it is ignored beside our ``client``; ignoring it is what we want (``authorize`` gives it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_BOLT_LOG = logging.getLogger("caseroom.slack.bolt")
_BOLT_LOG.addFilter(_NotTheEnvironmentsToken())


def build_app(client: WebClient, signing_secret: str, ingest: Ingest, sv: Services) -> App:
    token = client.token or ""

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # The request path must not call Slack (Bolt's default asks auth.test on the first request and
        # answers 500 when that fails); this single-workspace app knows its token already.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    # No token on Bolt's own client: ``authorize`` supplies it, and the work is done by jobs anyway.
    quiet = WebClient(base_url=client.base_url, ssl=client.ssl, timeout=client.timeout)
    # The route has verified the signature (with the configured tolerance and the service's clock) before Bolt.
    bolt = App(client=quiet, signing_secret=signing_secret, authorize=authorize, process_before_response=True,
               ignoring_self_events_enabled=False, request_verification_enabled=False, logger=_BOLT_LOG)  # fmt: skip

    def keep(delivery_id: str, raw: str, jobs: list[JobSpec]) -> bool:
        """Store a delivery and its jobs, and count it; ``False`` when it came before."""
        new = ingest.accept("slack", delivery_id, raw, jobs)
        metrics.WEBHOOKS.labels(source="slack", outcome="accepted" if new else "duplicate").inc()
        return new

    def store(body: dict[str, Any], lane_channel: str) -> None:
        keep(str(body.get("event_id")), json.dumps(body),
             [JobSpec(KIND, {"type": "event", "body": body}, lane=f"room:slack:{lane_channel}")])  # fmt: skip

    @bolt.event("member_joined_channel")
    @bolt.event("member_left_channel")
    def membership(body: dict[str, Any], event: dict[str, Any]) -> None:
        store(body, event.get("channel", ""))

    @bolt.event("message")
    def message(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("subtype") not in KEPT_SUBTYPES:
            return
        store(body, event.get("channel", ""))

    @bolt.event("file_shared")
    def file_shared(body: dict[str, Any], event: dict[str, Any]) -> None:
        # Often also told by a ``message`` event, but not always (an app not subscribed to the channel's
        # messages, a share Slack reports only this way): kept, and met with the message on its ts.
        store(body, event.get("channel_id", ""))

    @bolt.event("app_mention")
    def covered(body: dict[str, Any]) -> None:
        # The same mention also arrives as a ``message`` event, which carries everything needed.
        metrics.WEBHOOKS.labels(source="slack", outcome="ignored").inc()

    @bolt.command(re.compile(r"^/case"))
    def case_command(ack: Ack, command: dict[str, Any]) -> None:
        # Slack sends a slash command once (no retries, a fresh trigger_id each time): identical bodies are
        # one request posted again, and run once.
        raw = json.dumps(command, sort_keys=True)
        key = "slack:" + hashlib.sha256(raw.encode()).hexdigest()[:40]
        req = CommandRequest(
            platform="slack",
            room_id=command.get("channel_id", ""),
            actor=Actor(command.get("user_id", ""), "", command.get("user_name", "")),
            text=command.get("text", ""),
            at=sv.clock(),
            reply_token=command.get("response_url"),
        )
        reply = command_requests.answer_inline(sv, req, key, lambda: keep(f"command:{key}", raw, []))
        if reply is command_requests.ANSWERED_BEFORE:
            ack()
        elif reply is not None:
            ack(text=escape(reply.text), response_type="in_channel" if reply.public else "ephemeral")
        else:
            keep(f"command:{key}", raw, [JobSpec(KIND, {"type": "command", "request": req.to_payload()})])
            ack()

    @bolt.action(CONFIRM_ACTION)
    @bolt.action(CANCEL_ACTION)
    def confirmation(ack: Ack, body: dict[str, Any]) -> None:
        # Stored like an event; the job re-runs the command for whoever clicked, with every permission check.
        channel = str((body.get("channel") or {}).get("id") or "")
        action_ts = str(((body.get("actions") or [{}])[0]).get("action_ts") or "")
        key = f"action:{(body.get('user') or {}).get('id')}:{action_ts}"
        ingest.accept("slack", key, json.dumps(body),
                      [JobSpec(KIND, {"type": "action", "body": body}, lane=f"room:slack:{channel}")])  # fmt: skip
        ack()

    @bolt.action(re.compile(".*"))
    def other_action(ack: Ack) -> None:
        ack()  # e.g. the bookmark's link button: nothing to do, but unanswered Slack shows the clicker an error

    return bolt


def signed_by_slack(secret: str, body: bytes, timestamp: str, signature: str, now: float, tolerance: int) -> bool:
    """Slack's v0 scheme over the raw bytes (slack_sdk's verifier decodes them first and fails on non-UTF-8)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def well_formed(body: bytes, content_type: str) -> bool:
    """An Events API envelope (a JSON object) or a form with a slash command or an interaction payload."""
    try:
        if content_type.startswith("application/json"):
            return isinstance(wirejson.loads(body), dict)
        form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        if "payload" in form:
            return isinstance(wirejson.loads(form["payload"][0]), dict)
    except ValueError:  # MalformedJSON and UnicodeDecodeError among them
        return False
    return "command" in form


def router(bolt: App, signing_secret: str, tolerance: int, now: Callable[[], float] = time.time) -> APIRouter:
    r = APIRouter()

    @r.post(PATH, tags=["webhooks"])
    async def slack_events(request: Request) -> Response:
        # Verified here first: Bolt parses the body before checking the signature, and a body that does not
        # parse would otherwise be a 500 for anyone who can reach the URL.
        body = await request.body()
        if not signed_by_slack(signing_secret, body, request.headers.get("x-slack-request-timestamp", ""),
                               request.headers.get("x-slack-signature", ""), now(), tolerance):  # fmt: skip
            metrics.WEBHOOKS.labels(source="slack", outcome="unauthorized").inc()
            return JSONResponse({"ok": False, "error": "invalid or stale X-Slack-Signature"}, status_code=401)
        if not well_formed(body, request.headers.get("content-type", "")):
            metrics.WEBHOOKS.labels(source="slack", outcome="malformed").inc()
            return JSONResponse({"ok": False, "error": "not a Slack event, command or interaction"}, status_code=400)
        # Bolt is synchronous (listeners store the event before the ack): off the event loop.
        answer = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(answer)

    return r
