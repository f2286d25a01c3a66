"""A stored Slack event or slash command -> the core's neutral room events and command requests.

Slack names people by user id only; this job looks them up (cached) so the timeline and the
announcements carry names and e-mail addresses. The bot's own messages and joins are ignored.
"""

from __future__ import annotations

import json
import logging
import re
from contextlib import suppress
from dataclasses import replace
from decimal import Decimal
from typing import Any

from bot.commands import Registry
from bot.events import Actor, CommandRequest, RoomEvent, RoomEventKind
from bot.jobs import JobQueue
from bot.models import Job
from handlers import command_requests, room_events
from integrations.messaging import CANCELLED, FileRef
from integrations.slack.errors import SlackRefusal
from integrations.slack.messenger import CANCEL_ACTION, SlackMessenger, ts_time
from integrations.slack.text import unescape

log = logging.getLogger(__name__)

MEMBER_KINDS: dict[str, RoomEventKind] = {"member_joined_channel": "joined", "member_left_channel": "left"}


class InboundJob:
    def __init__(self, messenger: SlackMessenger, queue: JobQueue, commands: Registry) -> None:
        self.messenger = messenger
        self.queue = queue
        self.commands = commands  # what a mention of the bot may ask for

    def __call__(self, job: Job) -> None:
        p: dict[str, Any] = job.payload
        if p["type"] == "command":
            req = CommandRequest.from_payload(p["request"])
            self._command(req, f"slack:command:{job.key or job.id}")
            return
        if p["type"] == "action":
            self._button(p["body"])
            return
        body = p["body"]
        event = body["event"]
        bot = self.messenger.bot_user_id
        if event["type"] in MEMBER_KINDS:
            if event.get("user") != bot:
                self._submit(RoomEvent("slack", event["channel"], MEMBER_KINDS[event["type"]], body["event_id"],
                                       ts_time(event["event_ts"]), self._actor(event["user"])))  # fmt: skip
        elif event["type"] == "message":
            self._message(body["event_id"], event, bot)
        elif event["type"] == "file_shared":
            self._file_shared(body["event_id"], event, bot)

    def _message(self, event_id: str, event: dict[str, Any], bot: str) -> None:
        subtype = event.get("subtype")
        if subtype == "message_changed":
            m = event["message"]
            if m.get("user") and m.get("user") != bot and not m.get("bot_id"):
                text = self.messenger.readable(m.get("text", ""))
                self._submit(RoomEvent("slack", event["channel"], "message_changed", event_id, ts_time(event["ts"]),
                                       self._actor(m["user"]), text=text, message_id=m["ts"]))  # fmt: skip
            return
        if subtype == "message_deleted":
            before = event.get("previous_message") or {}
            actor = self._actor(before["user"]) if before.get("user") else Actor("")
            self._submit(RoomEvent("slack", event["channel"], "message_deleted", event_id, ts_time(event["ts"]),
                                   actor, message_id=event.get("deleted_ts")))  # fmt: skip
            return
        user = event.get("user")
        if not user or user == bot or event.get("bot_id"):
            return
        text = event.get("text", "")
        files = tuple(FileRef(f["id"], f.get("name") or f.get("title") or f["id"], f.get("size"), f.get("mimetype"))
                      for f in event.get("files", []))  # fmt: skip
        mention = re.match(rf"^\s*<@{re.escape(bot)}(\|[^>]*)?>\s*", text)
        parent = event.get("thread_ts") if event.get("thread_ts") not in (None, event["ts"]) else None
        # "@CaseRoom status" is a command; "@CaseRoom here are the logs" a message. Either way its files count.
        command = unescape(text[mention.end() :]) if mention else ""
        if mention and self.commands.addressed(command):
            req = CommandRequest("slack", event["channel"], Actor(user), command, ts_time(event["ts"]),
                                 message_id=event["ts"], parent_id=parent)  # fmt: skip
            self._command(req, f"slack:mention:{event['ts']}")
            if not files:
                return
        self._submit(RoomEvent("slack", event["channel"], "file" if files else "message", event_id,
                               ts_time(event["ts"]), self._actor(user), text=self.messenger.readable(text),
                               message_id=event["ts"], parent_id=parent, files=files))  # fmt: skip

    def _file_shared(self, event_id: str, event: dict[str, Any], bot: str) -> None:
        """A file shared in a channel: onto the entry of the message that holds it, whichever event comes first.

        The event names the file, not the message: ``files.info`` lists its shares, the latest one in this
        channel at the event's time is the message, and the upload is keyed by that message's ts as the
        ``message`` event (when subscribed) and closure's export key it.
        """
        user, channel = event.get("user_id"), event.get("channel_id")
        if not user or user == bot or not channel:
            return
        found = self.messenger.shared_file(event["file_id"], channel)
        shares = [x for x in (found[1] if found else []) if x.get("ts")]
        if found is None or not shares:
            log.info("file %s shared in %s: no message holds it there (deleted since?)", event["file_id"], channel)
            return
        shares.sort(key=lambda x: Decimal(x["ts"]))
        at = Decimal(event.get("event_ts") or shares[-1]["ts"])
        share = ([x for x in shares if Decimal(x["ts"]) <= at] or shares)[-1]
        parent = share.get("thread_ts") if share.get("thread_ts") not in (None, share["ts"]) else None
        self._submit(RoomEvent("slack", channel, "file", event_id, ts_time(share["ts"]), self._actor(user),
                               message_id=share["ts"], parent_id=parent, files=(found[0],)))  # fmt: skip

    def _button(self, body: dict[str, Any]) -> None:
        """A click on a confirmation's buttons: the command again, from whoever clicked, marked confirmed.

        Only the command text and the room are taken from the button; the command meets every permission
        check again for the person who clicked, in the channel the click came from.
        """
        action = (body.get("actions") or [{}])[0]
        channel, user = (body.get("channel") or {}).get("id"), (body.get("user") or {}).get("id")
        try:
            value = json.loads(action.get("value") or "{}")
        except ValueError:
            return
        if not isinstance(value, dict) or value.get("room_id") != channel or not value.get("command") or not user:
            return  # not one of ours, or a button carried into another channel
        response_url = body.get("response_url")
        if action.get("action_id") == CANCEL_ACTION:
            if response_url:
                self.messenger.respond(response_url, {"replace_original": True, "text": CANCELLED})
            return
        if response_url:  # one answer per prompt: the buttons go before the command runs
            with suppress(SlackRefusal):  # already gone (a retry of this job): the command still runs once
                self.messenger.respond(response_url, {"delete_original": True})
        req = CommandRequest("slack", str(channel), Actor(str(user)), str(value["command"]),
                             ts_time(str(action.get("action_ts") or "0")), response_url, confirmed=True)  # fmt: skip
        self._command(req, f"slack:confirmed:{user}:{action.get('action_ts')}")

    def _actor(self, user_id: str) -> Actor:
        email, name = self.messenger.person(user_id)
        return Actor(user_id, email, name)

    def _command(self, req: CommandRequest, key: str) -> None:
        email, name = self.messenger.person(req.actor.user_id)
        enriched = replace(req, actor=Actor(req.actor.user_id, email, name or req.actor.name))
        self.queue.submit(command_requests.KIND, enriched.to_payload(), key=key)

    def _submit(self, ev: RoomEvent) -> None:
        self.queue.submit(room_events.KIND, ev.to_payload(), key=f"slack:event:{ev.event_id}",
                          lane=room_events.lane("slack", ev.room_id))  # fmt: skip
