"""A stored Webex notification -> the core's neutral room events and command requests.

Membership changes become joins and leaves. A new message is fetched (the notification has no text):
``/case ...``, or an @mention of the bot followed by a command, is a command; anything else is a message. A
message's files are announced and recorded whatever its text, once Webex has scanned them. An edit is fetched
for its new wording and recorded as an edit; a deletion is recorded as one (the record keeps what was said and
marks it deleted). The bot's own messages and memberships are ignored.
"""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from bot.commands import Registry
from bot.events import Actor, CommandRequest, RoomEvent, RoomEventKind
from bot.jobs import JobQueue, WaitingFor
from bot.models import Job
from handlers import command_requests, room_events
from integrations.messaging import CANCELLED, FileRef, PermanentPlatformError
from integrations.webex.errors import status_of
from integrations.webex.messenger import CONFIRM_TAG, UNNAMED_FILE, FileScanning, WebexMessenger, parse_time

COMMAND = re.compile(r"^\s*/case\b", re.IGNORECASE)
# How long an upload's announcement waits for Webex's malware scan before it goes out without name and size.
SCAN_PATIENCE = timedelta(minutes=30)


class NotificationJob:
    def __init__(self, messenger: WebexMessenger, queue: JobQueue, commands: Registry) -> None:
        self.messenger = messenger
        self.queue = queue
        self.commands = commands  # what a mention of the bot may ask for

    def __call__(self, job: Job) -> None:
        note: dict[str, Any] = job.payload
        data = note["data"]
        if note["resource"] == "attachmentActions":
            self._button(data)
            return
        if data.get("personId") == self.messenger.me.id or data.get("roomType") == "direct":
            return  # our own doings, and 1:1 spaces (private answers) are no case room
        person = (data.get("personEmail") or "").lower()
        if note["resource"] == "memberships" and person == self.messenger.observer_email:
            return  # our own observer account coming and going is not news for the room
        if note["resource"] == "memberships":
            self._membership(note["event"], data)
        elif note["resource"] == "messages" and note["event"] == "created":
            self._message(data)
        elif note["resource"] == "messages" and note["event"] == "updated":
            self._edited(data)
        elif note["resource"] == "messages":
            self._deleted(data, job.created_at)

    def _button(self, data: dict[str, Any]) -> None:
        """A press on a confirmation card: the command again, from whoever pressed, marked confirmed.

        The inputs are whatever the client sent, so nothing in them is trusted but the command text and the
        room: the command meets every permission check again, for the person who pressed.
        """
        bot = self.messenger.bot
        action = self.messenger.calls.call("attachment_actions.get", lambda: bot.attachment_actions.get(data["id"]))
        inputs = action.inputs or {}
        if inputs.get("caseroom") != CONFIRM_TAG or not inputs.get("command") or not inputs.get("room_id"):
            return  # not one of our cards
        person = self.messenger.calls.call("people.get", lambda: bot.people.get(action.personId))
        actor = _person(action.personId, (person.emails or [None])[0], person.displayName)
        # One answer per card: once pressed, it goes (a second press finds nothing to act on).
        with suppress(PermanentPlatformError):  # already gone: still act on this press; its job key makes it once
            self.messenger.calls.call("messages.delete", lambda: bot.messages.delete(action.messageId))
        if inputs.get("answer") != "confirm":
            self.messenger.reply_private(str(inputs["room_id"]), action.personId, CANCELLED)
            return
        req = CommandRequest("webex", str(inputs["room_id"]), actor, str(inputs["command"]),
                             parse_time(action.created), confirmed=True)  # fmt: skip
        self.queue.submit(command_requests.KIND, req.to_payload(), key=f"webex:confirmed:{action.messageId}")

    def _membership(self, event: str, data: dict[str, Any]) -> None:
        kind: RoomEventKind = "joined" if event == "created" else "left"
        at = data.get("created") if event == "created" else None
        person = _person(data.get("personId"), data.get("personEmail"), data.get("personDisplayName"))
        at_ = parse_time(at) if at else self.queue.clock()
        ev = RoomEvent("webex", data["roomId"], kind, f"{data['id']}:{event}", at_, person)
        self._submit_event(ev)

    def _fetch(self, message_id: str) -> Any | None:
        """The message as it reads now; ``None`` once deleted, or when it is not visible to us."""
        reader = self.messenger.reader
        try:
            return self.messenger.calls.call("messages.get", lambda: reader.messages.get(message_id))
        except PermanentPlatformError as exc:
            if status_of(exc) in (403, 404):
                return None
            raise

    def _message(self, data: dict[str, Any]) -> None:
        msg = self._fetch(data["id"])
        if msg is None:
            return
        actor = _person(msg.personId, msg.personEmail)
        text = msg.text or ""
        created = parse_time(msg.created)
        mentioned = self.messenger.me.id in (msg.mentionedPeople or [])
        # "/case ..." is always a command; "@CaseRoom ..." only when a command follows ("@CaseRoom here are the
        # logs" is a message). Either way the message's files are announced and recorded.
        command = self._command_text(text, mentioned)
        if COMMAND.match(text) or (mentioned and self.commands.addressed(command)):
            req = CommandRequest("webex", msg.roomId, actor, command, created, message_id=msg.id,
                                 parent_id=msg.parentId)  # fmt: skip
            # Keyed by the message: submitted once however often a scan makes this job wait below.
            self.queue.submit(command_requests.KIND, req.to_payload(), key=f"webex:command:{msg.id}")
            if not msg.files:
                return
        files = tuple(self._file_info(url, created) for url in (msg.files or []))
        if files and actor.user_id:  # an upload is announced by name, as the uploader's join was
            actor = Actor(actor.user_id, actor.email, self.messenger.display_name(actor.user_id))
        ev = RoomEvent(
            platform="webex",
            room_id=msg.roomId,
            kind="file" if files else "message",
            event_id=msg.id,
            at=created,
            actor=actor,
            text=text,
            message_id=msg.id,
            parent_id=msg.parentId,
            files=files,
        )
        self._submit_event(ev)

    def _edited(self, data: dict[str, Any]) -> None:
        """The message's wording now, keyed by when it was edited: two notices of one edit make one entry."""
        msg = self._fetch(data["id"])
        if msg is None or msg.updated is None:
            return
        actor = _person(msg.personId, msg.personEmail)
        at = parse_time(msg.updated)
        ev = RoomEvent("webex", msg.roomId, "message_changed", f"{msg.id}:updated:{at.isoformat()}", at, actor,
                       text=msg.text or "", message_id=msg.id)  # fmt: skip
        self._submit_event(ev)

    def _deleted(self, data: dict[str, Any], noticed: datetime) -> None:
        """Gone from Webex, so nothing to fetch: the notice names the message and its author, not when it went."""
        actor = _person(data.get("personId"), data.get("personEmail"))
        ev = RoomEvent("webex", data["roomId"], "message_deleted", f"{data['id']}:deleted", parse_time(noticed), actor,
                       message_id=data["id"])  # fmt: skip
        self._submit_event(ev)

    def _file_info(self, url: str, created: datetime) -> FileRef:
        """The file's name and size, waiting (deferred, no attempt used) while Webex scans it, up to a point."""
        try:
            return self.messenger.file_info(url)
        except FileScanning as exc:
            if self.queue.clock() - created < SCAN_PATIENCE:
                raise WaitingFor("Webex is still scanning an uploaded file", retry_after=exc.retry_after or 5) from exc
            return FileRef(url, UNNAMED_FILE)  # announced unnamed; the file's own job files it once Webex is done

    def _command_text(self, text: str, mentioned: bool) -> str:
        if mentioned:
            # Webex puts the bot's display name (or its first word) first in a mention's text.
            name = str(self.messenger.me.displayName or "")
            for prefix in (name, name.split(" ")[0]):
                if prefix and text.lower().startswith(prefix.lower()):
                    text = text[len(prefix) :]
                    break
        return COMMAND.sub("", text).strip()

    def _submit_event(self, ev: RoomEvent) -> None:
        self.queue.submit(room_events.KIND, ev.to_payload(), key=f"webex:event:{ev.event_id}",
                          lane=room_events.lane("webex", ev.room_id))  # fmt: skip


def _person(person_id: str | None, email: str | None, name: str | None = None) -> Actor:
    """Someone as the core names people: Webex's person id and the lower-cased address (absent ones empty)."""
    return Actor(person_id or "", (email or "").lower(), name or "")
