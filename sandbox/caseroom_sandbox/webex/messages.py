"""Messages and their files: posting, listing with Webex's visibility rules, deleting, downloading."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from caseroom_sandbox.webex.model import Content, Event, Message, Person, Room
from caseroom_sandbox.webex.state import Store
from caseroom_sandbox.webex.wire import (
    WebexError,
    check_length,
    markdown_mentions,
    mention_html,
    render_markdown,
    timestamp,
)

BOT_LIST_REFUSED = (
    "Failed to get activity. Bots must specify mentionedPeople=me to list messages in a group room: "
    "they only see the messages that mention them."
)
MAX_PAGE = 1000
MENTIONED_MAX = 100
MAX_EDITS = 10  # "Update a message you have posted not more than 10 times."


@dataclass
class Upload:
    name: str
    mime: str
    data: bytes
    scan: str = "clean"  # what the malware scan says when the file lands (the control API can change it later)


def bot_sees(person: Person, room: Room, msg: Message) -> bool:
    """In group rooms a bot sees only what mentions it (and what it wrote itself)."""
    if person.type != "bot" or room.type == "direct":
        return True
    return msg.person_id == person.id or person.id in msg.mentioned_people


class Messages:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- create -------------------------------------------------------------------------------------
    def create(self, caller: Person, body: dict[str, Any], upload: Upload | None, base: str) -> Message:
        text, markdown = body.get("text"), body.get("markdown")
        check_length("text", text)
        check_length("markdown", markdown)
        urls = body.get("files") or []
        if isinstance(urls, str):
            urls = [urls]
        if len(urls) + (1 if upload else 0) > 1:
            raise WebexError(400, "Only one file may be attached to a message.")
        if not (text or markdown or urls or upload or body.get("attachments")):
            raise WebexError(400, "A message needs text, markdown, files or attachments.")
        s = self.store
        with s.lock:
            room = self._target_room(caller, body)
            mine = s.membership_of(room.id, caller.id)
            if mine is None:
                raise WebexError(404, "Could not find a room with provided ID.")
            if room.is_announcement_only and not mine.is_moderator:
                raise WebexError(403, "Only moderators can post in an announcement-only space.")
            msg = self._new(caller, room, body.get("parentId"))
            msg.text, msg.markdown = text, markdown
            if markdown:
                self._render(msg, markdown)
            for url in urls:
                msg.files.append(self._content_from_url(room, str(url)).id)
            if upload:
                msg.files.append(self.add_content(room, upload).id)
            msg.attachments = list(body.get("attachments") or [])
            return self._publish(msg, caller, base)

    def post_as(
        self, author: Person, room_id: str, text: str, *, parent_id: str | None, mention: Person | None,
        upload: Upload | None, base: str, link: str | None = None,
    ) -> Message:  # fmt: skip
        """What a person typing in a Webex client produces (the control API's ``act/message``)."""
        s = self.store
        with s.lock:
            room = s.rooms.get(room_id)
            if room is None or s.membership_of(room_id, author.id) is None:
                raise WebexError(404, f"{author.email} is not in room {room_id}.")
            msg = self._new(author, room, parent_id)
            msg.text = text
            if mention is not None:
                # A client puts the display name at the mention's place in text and a spark-mention in html.
                msg.text = f"{mention.name} {text}"
                msg.html = f"<p>{mention_html(mention.id, mention.name)} {text}</p>"
                msg.mentioned_people = [mention.id]
            if upload:
                msg.files.append(self.add_content(room, upload).id)
            if link:
                msg.links.append(link)
            return self._publish(msg, author, base)

    def _target_room(self, caller: Person, body: dict[str, Any]) -> Room:
        s = self.store
        if body.get("roomId"):
            room = s.rooms.get(str(body["roomId"]))
            if room is None:
                raise WebexError(404, "Could not find a room with provided ID.")
            return room
        if body.get("toPersonId"):
            other = s.person(str(body["toPersonId"]))
        elif body.get("toPersonEmail"):
            email = str(body["toPersonEmail"])
            other = s.person_by_email(email) or s.invite(email)
        else:
            raise WebexError(400, "roomId, toPersonId or toPersonEmail is required.")
        if other.id == caller.id:
            raise WebexError(400, "You cannot send a direct message to yourself.")
        return s.direct_room(caller, other)

    def _new(self, author: Person, room: Room, parent_id: str | None) -> Message:
        s = self.store
        if parent_id:
            parent = s.messages.get(parent_id)
            if parent is None or parent.room_id != room.id:
                raise WebexError(400, "parentId does not refer to a message in this room.")
            if parent.parent_id:
                raise WebexError(400, "A reply cannot be the parent of another reply.")
        s.seq += 1
        return Message(
            id=s.ids.make("MESSAGE"),
            seq=s.seq,
            room_id=room.id,
            room_type=room.type,
            person_id=author.id,
            person_email=author.email,
            created=timestamp(),
            parent_id=parent_id or None,
        )

    def _render(self, msg: Message, markdown: str) -> None:
        refs, everyone = markdown_mentions(markdown)
        names: dict[str, tuple[str, str]] = {}
        for kind, ref in refs:
            person = self.store.person_by_email(ref) if kind == "personEmail" else self.store.people.get(ref)
            if person is not None:
                names[ref] = (person.id, person.name)
                if person.id not in msg.mentioned_people:
                    msg.mentioned_people.append(person.id)
        msg.mentioned_groups = ["all"] if everyone else []
        plain, msg.html = render_markdown(markdown, names)
        msg.text = msg.text or plain

    def _publish(self, msg: Message, author: Person, base: str) -> Message:
        s = self.store
        s.messages[msg.id] = msg
        s.rooms[msg.room_id].last_activity = msg.created
        s.emit(
            Event("messages", "created", author.id, msg.room_id, msg.notification(base),
                  subject_id=author.id, mentioned=list(msg.mentioned_people))
        )  # fmt: skip
        return msg

    # -- files --------------------------------------------------------------------------------------
    def add_content(self, room: Room, upload: Upload) -> Content:
        content = Content(self.store.ids.make("CONTENT", "/0"), upload.name, upload.mime, upload.data, room.id)
        content.scan = upload.scan
        self.store.contents[content.id] = content
        return content

    def _content_from_url(self, room: Room, url: str) -> Content:
        # Webex fetches a public URL and re-hosts it; the emulator never fetches, it records an empty file.
        name = urlparse(url).path.rsplit("/", 1)[-1] or "file"
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return self.add_content(room, Upload(name, mime, b""))

    def content(self, caller: Person, content_id: str, *, allow_unscannable: bool = False) -> Content:
        s = self.store
        with s.lock:
            content = s.contents.get(content_id)
            if content is None:
                raise WebexError(404, "File not found.")
            s.readable_room(caller, content.room_id)
        if content.scan == "scanning":
            raise WebexError(423, "The file is being scanned for malware.", headers={"Retry-After": "2"})
        if content.scan == "infected":
            raise WebexError(410, "The file was found to be infected and is no longer available.")
        if content.scan == "unscannable" and not allow_unscannable:
            # Webex: 428 Precondition Required, the file cannot be scanned; ?allow=unscannable forces the download.
            raise WebexError(428, "The file cannot be scanned for malware and needs to be force downloaded.")
        return content

    # -- read ---------------------------------------------------------------------------------------
    def get(self, caller: Person, message_id: str) -> Message:
        s = self.store
        with s.lock:
            msg = s.messages.get(message_id)
            if msg is None:
                raise WebexError(404, "Message not found.")
            room = s.readable_room(caller, msg.room_id)
            if not bot_sees(caller, room, msg):
                # Webex answers a bot's fetch of an unmentioned group message as if it did not exist.
                raise WebexError(404, "Could not find a message by the provided ID.")
            return msg

    def page(self, caller: Person, query: dict[str, str]) -> tuple[list[Message], bool]:
        """One page, newest first, and whether an older page exists."""
        room_id = query.get("roomId")
        if not room_id:
            raise WebexError(400, "roomId is required.")
        size = page_size(query.get("max"), default=50)
        if query.get("mentionedPeople") and size > MENTIONED_MAX:
            raise WebexError(400, f"max cannot exceed {MENTIONED_MAX} when used with mentionedPeople.")
        s = self.store
        with s.lock:
            room = s.readable_room(caller, room_id)
            mentioned = query.get("mentionedPeople")
            if caller.type == "bot" and room.type == "group" and mentioned not in ("me", caller.id):
                raise WebexError(403, BOT_LIST_REFUSED)
            found = [m for m in s.messages.values() if m.room_id == room_id]
            if mentioned:
                who = caller.id if mentioned == "me" else mentioned
                found = [m for m in found if who in m.mentioned_people]
            if query.get("parentId"):
                found = [m for m in found if m.parent_id == query["parentId"]]
            if query.get("before"):
                found = [m for m in found if m.created < query["before"]]
            if query.get("beforeMessage"):
                anchor = s.messages.get(query["beforeMessage"])
                if anchor is None:
                    raise WebexError(404, "beforeMessage not found.")
                found = [m for m in found if m.seq < anchor.seq]
            found.sort(key=lambda m: m.seq, reverse=True)
        return found[:size], len(found) > size

    # -- change -------------------------------------------------------------------------------------
    def edit(self, caller: Person, message_id: str, body: dict[str, Any], base: str) -> Message:
        """``PUT /messages/{id}``: the author rewrites a message; mentions are those of the new wording."""
        text, markdown = body.get("text"), body.get("markdown")
        if not body.get("roomId"):
            raise WebexError(400, "roomId is required.")
        check_length("text", text)
        check_length("markdown", markdown)
        if not (text or markdown):
            raise WebexError(400, "An edit needs text or markdown.")
        s = self.store
        with s.lock:
            msg = s.messages.get(message_id)
            if msg is None or msg.room_id != body["roomId"]:
                raise WebexError(404, "Message not found.")
            s.member_room(caller, msg.room_id)
            if msg.person_id != caller.id:
                raise WebexError(403, "You can only edit your own messages.")
            if msg.files or msg.attachments:
                raise WebexError(400, "A message with files or cards cannot be edited.")
            if msg.edits >= MAX_EDITS:
                raise WebexError(400, f"A message can be edited at most {MAX_EDITS} times.")
            before = set(msg.mentioned_people)
            msg.text, msg.markdown, msg.html = text, markdown, None
            msg.mentioned_people, msg.mentioned_groups = [], []
            if markdown:
                self._render(msg, markdown)
            msg.edits += 1
            msg.updated = _later_than(msg.updated or msg.created)
            data = msg.notification(base)  # no files: a message with files is never edited
        # A bot hears of an edit to a message that mentions it, before or after the edit.
        s.emit(Event("messages", "updated", caller.id, msg.room_id, data, subject_id=msg.person_id,
                     mentioned=sorted(before | set(msg.mentioned_people))))  # fmt: skip
        return msg

    def delete(self, caller: Person, message_id: str, base: str) -> None:
        s = self.store
        with s.lock:
            msg = s.messages.get(message_id)
            if msg is None:
                raise WebexError(404, "Message not found.")
            room, mine = s.member_room(caller, msg.room_id)
            if msg.person_id != caller.id and not (room.is_locked and mine.is_moderator):
                raise WebexError(403, "You can only delete your own messages, or any as moderator.")
            del s.messages[message_id]
            data = msg.notification(base)
            data.pop("files", None)
        s.emit(Event("messages", "deleted", caller.id, msg.room_id, data, subject_id=msg.person_id,
                     mentioned=list(msg.mentioned_people)))  # fmt: skip


def _later_than(previous: str) -> str:
    """Now, or a millisecond after ``previous``: each edit has its own ``updated``, as each has its own notice."""
    now = timestamp()
    if now > previous:
        return now
    moment = datetime.fromisoformat(previous.replace("Z", "+00:00")) + timedelta(milliseconds=1)
    return timestamp(moment)


def page_size(raw: str | None, *, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        size = int(raw)
    except ValueError as exc:
        raise WebexError(400, "max must be a number.") from exc
    if not 1 <= size <= MAX_PAGE:
        raise WebexError(400, f"max must be between 1 and {MAX_PAGE}.")
    return size
