"""`POST /slack/events` through Bolt: verify the signature, store the event, acknowledge within 3 seconds.

Bolt checks ``X-Slack-Signature`` and the timestamp (401 otherwise) and answers ``url_verification``.
``process_before_response`` keeps the ack until the event is stored, so an ack always means "kept".
Every subscribed event has a listener: Bolt answers 404 to an unmatched one, which Slack retries.
Retries (``X-Slack-Retry-Num``) carry the same ``event_id``, which the delivery key deduplicates.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from slack_bolt import Ack, App
from slack_bolt.adapter.starlette import SlackRequestHandler
from slack_sdk import WebClient

from bot import metrics
from bot.events import Actor, CommandRequest
from bot.ingest import Ingest, JobSpec
from bot.services import Services
from handlers import command_requests
from integrations.slack.text import escape

KIND = "slack.inbound"
IGNORED_SUBTYPES = {"channel_join", "channel_leave", "bot_message", "channel_topic", "channel_purpose"}


def build_app(client: WebClient, signing_secret: str, ingest: Ingest, sv: Services) -> App:
    bolt = App(client=client, signing_secret=signing_secret, token_verification_enabled=False,
               process_before_response=True)  # fmt: skip

    def store(body: dict[str, Any], lane_channel: str) -> None:
        job = JobSpec(KIND, {"type": "event", "body": body}, lane=f"room:slack:{lane_channel}")
        new = ingest.accept("slack", str(body.get("event_id")), json.dumps(body), [job])
        metrics.WEBHOOKS.labels(source="slack", outcome="accepted" if new else "duplicate").inc()

    @bolt.event("member_joined_channel")
    @bolt.event("member_left_channel")
    def membership(body: dict[str, Any], event: dict[str, Any]) -> None:
        store(body, event.get("channel", ""))

    @bolt.event("message")
    def message(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("subtype") in IGNORED_SUBTYPES:
            return
        store(body, event.get("channel", ""))

    @bolt.event("file_shared")
    @bolt.event("app_mention")
    def covered(body: dict[str, Any]) -> None:
        # The same upload or mention also arrives as a ``message`` event, which carries everything needed.
        metrics.WEBHOOKS.labels(source="slack", outcome="ignored").inc()

    @bolt.command(re.compile(r"^/case"))
    def case_command(ack: Ack, command: dict[str, Any]) -> None:
        req = CommandRequest(
            platform="slack",
            room_id=command.get("channel_id", ""),
            actor=Actor(command.get("user_id", ""), "", command.get("user_name", "")),
            text=command.get("text", ""),
            at=datetime.now(UTC),
            reply_token=command.get("response_url"),
        )
        key = f"slack:{command.get('trigger_id') or command.get('user_id')}:{req.at.timestamp()}"
        reply = command_requests.answer_inline(sv, req, key, actor_in_room=True)
        if reply is not None:
            ack(text=escape(reply.text), response_type="in_channel" if reply.public else "ephemeral")
            return
        ingest.accept("slack", f"command:{key}", json.dumps(command),
                      [JobSpec(KIND, {"type": "command", "request": req.to_payload()})])  # fmt: skip
        ack()

    @bolt.action(re.compile(".*"))
    def action(ack: Ack) -> None:
        ack()

    return bolt


def router(bolt: App) -> APIRouter:
    handler = SlackRequestHandler(bolt)
    r = APIRouter()

    @r.post("/slack/events", tags=["webhooks"])
    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    return r
