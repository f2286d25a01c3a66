"""The messaging port for Webex: a locked space per case, members by e-mail, export, lock at closure."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import requests
from webexpythonsdk import WebexAPI

from integrations import origins
from integrations.filenames import safe_file_name
from integrations.messaging import (
    Card,
    Confirmation,
    DownloadedFile,
    FileRef,
    HistoryMessage,
    Member,
    MemberOutcome,
    MemberResult,
    PermanentPlatformError,
    PostedFiles,
    RoomRef,
    RoomSpec,
    TransientPlatformError,
    Visibility,
)
from integrations.origins import Origins
from integrations.webex.client import uuid_of
from integrations.webex.errors import WebexCalls, retry_after, status_of

TITLE_LIMIT = 128  # Webex accepts longer titles, but clients truncate them anyway
TEXT_LIMIT = 7000  # bytes per message; Webex refuses over 7439
MAX_FILE = 100 * 1024 * 1024
NAMES_KEPT = 4096  # display names remembered per process
ROOM_SCAN_LIMIT = 1000  # how many of the bot's newest spaces to search for one created before a crash
MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)
LIMITATION = (
    "CaseRoom sees only the messages that mention it: no observer account is configured "
    "(WEBEX_OBSERVER_TOKEN), so other messages and their files are missing from announcements and transcripts."
)


UNNAMED_FILE = "a file"
BLOCKED_INFECTED = "Webex quarantined it as infected"
BLOCKED_UNSCANNABLE = "Webex could not scan it for malware"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CONFIRM_TAG = "caseroom.confirm.v1"  # marks our cards' button data among whatever else is pressed


def confirmation_card(c: Confirmation) -> dict[str, Any]:
    data = {"caseroom": CONFIRM_TAG, "command": c.command, "room_id": c.room_id}
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.3",
        "body": [{"type": "TextBlock", "text": c.prompt, "wrap": True, "weight": "Bolder"},
                 {"type": "TextBlock", "text": f"/case {c.command}", "wrap": True, "isSubtle": True}],
        "actions": [{"type": "Action.Submit", "title": "Confirm", "data": {**data, "answer": "confirm"}},
                    {"type": "Action.Submit", "title": "Cancel", "data": {**data, "answer": "cancel"}}],
    }  # fmt: skip


class FileScanning(TransientPlatformError):
    """423: the malware scan has not finished; try again after Retry-After."""


class FileQuarantined(PermanentPlatformError):
    """410: the scan found malware; the file can never be downloaded."""


class FileUnscannable(PermanentPlatformError):
    """428: Webex cannot scan the file (encrypted, say); we never force such a download onto the case."""


class FileElsewhere(PermanentPlatformError):
    """The link is on another host than Webex: fetching it would hand that host the bot token."""


def escape_markdown(text: str) -> str:
    """Neutralise markup and mention syntax (``<@all>``) in untrusted text for a markdown message."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return MARKDOWN_SPECIALS.sub(r"\\\1", text)


def chunks(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split on line ends into parts of at most ``limit`` UTF-8 bytes (a very long line is cut)."""
    out: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > limit:
            cut = line.encode()[:limit].decode(errors="ignore")
            if current:
                out.append(current)
                current = ""
            out.append(cut)
            line = line[len(cut) :]
        if current and len((current + line).encode()) > limit:
            out.append(current)
            current = ""
        current += line
    if current or not out:
        out.append(current)
    return out


def parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


class WebexMessenger:
    platform = "webex"

    def __init__(
        self, bot: WebexAPI, observer: WebexAPI | None, space_link: str, calls: WebexCalls | None = None
    ) -> None:
        self.bot = bot
        self.calls = calls or WebexCalls()  # its pacing and its health record: this runtime's, not the process's
        self.observer = observer
        self.space_link = space_link
        self._lookups = ThreadPoolExecutor(4, thread_name_prefix="webex-lookup")
        self._names: dict[str, str] = {}

    @cached_property
    def me(self) -> Any:
        return self.calls.call("people.me", self.bot.people.me)

    @cached_property
    def observer_email(self) -> str | None:
        if self.observer is None:
            return None
        me = self.calls.call("people.me", self.observer.people.me)
        return str(me.emails[0]).lower() if me.emails else None

    def display_name(self, person_id: str) -> str:
        """Someone's Webex display name, as their joins show it (a message names only its sender's id and address).

        Kept per process, bounded: names rarely change, and one lookup per uploader, not per upload, saves the
        rate limit. ``""`` when Webex does not know the person (any more).
        """
        if person_id not in self._names:
            try:
                person = self.calls.call("people.get", lambda: self.bot.people.get(person_id))
            except PermanentPlatformError:
                return ""
            if len(self._names) >= NAMES_KEPT:
                self._names.clear()
            self._names[person_id] = str(person.displayName or "")
        return self._names[person_id]

    @property
    def reader(self) -> WebexAPI:
        return self.observer or self.bot

    # -- rooms ----------------------------------------------------------------------------------
    def ensure_room(self, spec: RoomSpec) -> RoomRef:
        title = spec.title if len(spec.title) <= TITLE_LIMIT else spec.title[: TITLE_LIMIT - 1].rstrip() + "…"
        room = None if spec.fresh else self._find_room(spec.key, title)
        if room is None:
            # Locked: the bot is moderator, so it can remove people and lock the space at closure.
            description = spec.topic[:1000] or None
            room = self.calls.call(
                "rooms.create", lambda: self.bot.rooms.create(title, isLocked=True, description=description)
            )
        return RoomRef(self.platform, room.id, self.room_link(room.id), room.title)

    def prepare_room(self, room_id: str, spec: RoomSpec) -> None:
        # The observer reads what the bot may not (group messages that do not mention it); see README.
        if self.observer_email:
            self.add_member(room_id, self.observer_email)

    def _find_room(self, key: str, title: str) -> Any | None:
        """A space created for this case before a crash stopped us recording its id."""
        rooms = self.calls.call("rooms.list", lambda: self.bot.rooms.list(type="group", sortBy="created", max=100))
        with self.calls.translated("rooms.list"):
            for n, room in enumerate(rooms):
                if n >= ROOM_SCAN_LIMIT:
                    return None
                if room.title == title or (room.title or "").split(":")[0].strip() == f"Case {key}":
                    return room
        return None

    def room_link(self, room_id: str) -> str:
        return self.space_link.format(uuid=uuid_of(room_id), id=room_id)

    def archive(self, room_id: str) -> None:
        room = self.calls.call("rooms.get", lambda: self.bot.rooms.get(room_id))
        # Announcement-only keeps the space readable (and its files downloadable) but nobody can post.
        locked = {"title": room.title, "isLocked": True, "isAnnouncementOnly": True}
        self.calls.call("rooms.update", lambda: self.bot.rooms.update(room_id, **locked))

    # -- people -----------------------------------------------------------------------------------
    def add_member(self, room_id: str, email: str, *, external: bool = False) -> MemberResult:
        # Whether an outsider has a Webex account only changes the words of the answer: ask alongside.
        known = self._lookups.submit(self._known_person, email) if external else None
        try:
            m = self.calls.call("memberships.create",
                                lambda: self.bot.memberships.create(roomId=room_id, personEmail=email))  # fmt: skip
        except PermanentPlatformError as exc:
            status = status_of(exc)
            if status == 409:
                return MemberResult(MemberOutcome.ALREADY, member_id=self._membership_id(room_id, email))
            if status in (400, 403, 404):
                return MemberResult(MemberOutcome.REFUSED, f"Webex would not add {email} ({exc})")
            raise
        if known is not None and not known.result():
            return MemberResult(MemberOutcome.INVITED, member_id=m.id)
        return MemberResult(MemberOutcome.ADDED, member_id=m.id)

    def _known_person(self, email: str) -> bool:
        return any(True for _ in self.calls.call("people.list", lambda: self.bot.people.list(email=email)))

    def _membership_id(self, room_id: str, email: str) -> str:
        found = self.calls.call("memberships.list",
                                lambda: list(self.bot.memberships.list(roomId=room_id, personEmail=email)))  # fmt: skip
        return str(found[0].id) if found else ""

    def remove_member(self, room_id: str, member_id: str) -> None:
        try:
            self.calls.call("memberships.delete", lambda: self.bot.memberships.delete(member_id))
        except PermanentPlatformError as exc:
            if status_of(exc) != 404:  # gone already: that is what we wanted
                raise

    def list_members(self, room_id: str) -> list[Member]:
        memberships = self.calls.call("memberships.list",
                                      lambda: list(self.bot.memberships.list(roomId=room_id, max=1000)))  # fmt: skip
        return [
            Member(m.id, (m.personEmail or "").lower(), m.personDisplayName or "", is_bot=m.personId == self.me.id)
            for m in memberships
        ]

    # -- messages ---------------------------------------------------------------------------------
    def post(self, room_id: str, text: str, *, thread_id: str | None = None) -> str:
        # Plain ``text``: Webex renders no markup and no mentions from it, so untrusted text is inert.
        ids = [self._send(roomId=room_id, text=part, parentId=thread_id) for part in chunks(text)]
        return ids[0]

    def _send(self, **fields: Any) -> str:
        return str(self._create(fields).id)

    def _create(self, fields: dict[str, Any]) -> Any:
        return self.calls.call("messages.create", lambda: self.bot.messages.create(**fields))

    def post_files(self, room_id: str, text: str, files: Sequence[DownloadedFile]) -> PostedFiles:
        # Webex takes one file per message, from a local file (multipart): the text's last part carries the first
        # file and each other file comes in a message of its own.
        parts = chunks(text) if text else []
        ids = [self._send(roomId=room_id, text=part) for part in parts[:-1]]
        refs: list[FileRef] = []
        with tempfile.TemporaryDirectory(prefix="caseroom-") as folder:
            for n, f in enumerate(files):
                name = safe_file_name(f.name)
                path = Path(folder, str(n), name)  # the SDK sends the path's last part as the file's name
                path.parent.mkdir()
                path.write_bytes(f.content)
                fields: dict[str, Any] = {"roomId": room_id, "files": [str(path)]}
                if n == 0 and parts:
                    fields["text"] = parts[-1]
                msg = self._create(fields)
                ids.append(str(msg.id))
                refs += [FileRef(url, name, len(f.content), f.mime) for url in (msg.files or [])]
        return PostedFiles(tuple(ids), tuple(refs))

    def post_card(self, room_id: str, card: Card) -> str:
        lines = [f"**{escape_markdown(card.title)}**"]
        lines += [f"- **{escape_markdown(k)}**: {escape_markdown(v)}" for k, v in card.fields]
        if card.footer:
            lines.append(f"_{escape_markdown(card.footer)}_")
        markdown = "\n".join(lines)
        return self._send(roomId=room_id, markdown=markdown, text=card.as_text()[:TEXT_LIMIT])

    def reply_private(self, room_id: str, user_id: str, text: str, *, reply_token: str | None = None) -> None:
        # Webex has no ephemeral messages: a private answer is a direct message from the bot.
        for part in chunks(text):
            self._send(toPersonId=user_id, text=part)

    def ask_confirmation(self, room_id: str, user_id: str, confirmation: Confirmation, *,
                         reply_token: str | None = None) -> bool:  # fmt: skip
        # In a direct space, like every private answer: only the asker sees (and can press) the buttons.
        self._send(toPersonId=user_id, text=f"{confirmation.prompt} Open this message in Webex to confirm or cancel.",
                   attachments=[{"contentType": CARD_TYPE, "content": confirmation_card(confirmation)}])  # fmt: skip
        return True

    def history(self, room_id: str) -> Iterator[HistoryMessage]:
        # Never pass beforeMessage: the SDK follows the Link headers itself (and loops if given one).
        # The largest page Webex allows: a 100k-message room is 100 calls, not 2,000 at the default 50.
        params: dict[str, Any] = {"roomId": room_id, "max": 1000}
        if self.observer is None:
            params.update(mentionedPeople="me", max=100)  # Webex caps mentionedPeople pages at 100
        messages = self.calls.call("messages.list", lambda: self.reader.messages.list(**params))
        with self.calls.translated("messages.list"):
            for m in messages:
                files = tuple(self._file_info_now(url) for url in (m.files or []))
                yield HistoryMessage(
                    message_id=m.id,
                    author_id=m.personId or "",
                    author_email=(m.personEmail or "").lower(),
                    author_name="",
                    text=m.text or "",
                    created=parse_time(m.created),
                    parent_id=m.parentId,
                    edited=parse_time(m.updated) if m.updated else None,
                    files=files,
                )

    # -- files ------------------------------------------------------------------------------------
    def file_info(self, url: str) -> FileRef:
        """Name, size and type of an uploaded file; raises :class:`FileScanning` while Webex still scans it.

        A file Webex withholds for good comes back ``blocked``; a link on another host comes back unnamed (it is
        never fetched: its file job reports it).
        """
        try:
            with self._content(url) as resp:
                return FileRef(url, _filename(resp, url), _int(resp.headers.get("Content-Length")),
                               resp.headers.get("Content-Type"))  # fmt: skip
        except FileQuarantined:
            return FileRef(url, UNNAMED_FILE, blocked=BLOCKED_INFECTED)
        except FileUnscannable:
            return FileRef(url, UNNAMED_FILE, blocked=BLOCKED_UNSCANNABLE)
        except FileElsewhere:
            return FileRef(url, UNNAMED_FILE)

    def _file_info_now(self, url: str) -> FileRef:
        # The closure's export cannot wait for a scan: unnamed, and the file's own job retries until Webex is done.
        try:
            return self.file_info(url)
        except FileScanning:
            return FileRef(url, UNNAMED_FILE)

    def download_file(self, file: FileRef) -> DownloadedFile:
        with self._content(file.file_id) as resp:
            data = bytearray()
            for block in resp.iter_content(1 << 16):
                data += block
                if len(data) > MAX_FILE:
                    raise PermanentPlatformError(f"{file.name or 'file'} is over {MAX_FILE} bytes")
            name = _filename(resp, file.file_id) or file.name
            mime = resp.headers.get("Content-Type") or file.mime or "application/octet-stream"
        return DownloadedFile(name, mime.split(";")[0], bytes(data))

    @cached_property
    def own_origins(self) -> Origins:
        """Where the bot token may go: the API's own origin, which serves ``/v1/contents`` too."""
        return Origins([self.bot.base_url])

    def _content(self, url: str) -> requests.Response:
        session = self.reader._session  # the SDK's authenticated session (bearer, CA bundle, timeouts)
        try:
            with self.calls.translated("contents.get"):
                resp = origins.get(session._req_session, url, allowed=self.own_origins, system="Webex",
                                   stream=True, timeout=60)  # fmt: skip
        except origins.ForeignOrigin as exc:
            raise FileElsewhere(str(exc)) from exc
        if resp.status_code == 423:
            resp.close()
            raise FileScanning("Webex is still scanning the file", retry_after=retry_after(resp) or 5)
        if resp.status_code == 410:
            resp.close()
            raise FileQuarantined("Webex quarantined the file as infected; it is not filed on the case")
        if resp.status_code == 428:
            resp.close()
            raise FileUnscannable("Webex could not scan the file for malware; it is not filed on the case")
        if resp.status_code == 429:
            resp.close()
            raise TransientPlatformError("Webex contents: rate limited", retry_after=retry_after(resp))
        if resp.status_code >= 500:
            resp.close()
            raise TransientPlatformError(f"Webex contents: HTTP {resp.status_code}", retry_after=retry_after(resp))
        if resp.status_code != 200:
            resp.close()
            raise PermanentPlatformError(f"Webex contents: HTTP {resp.status_code}")
        return resp

    def visibility(self) -> Visibility:
        return Visibility() if self.observer else Visibility(False, LIMITATION)


def _filename(resp: requests.Response, url: str) -> str:
    found = FILENAME.search(resp.headers.get("Content-Disposition", ""))
    return found.group(1) if found else url.rsplit("/", 1)[-1]


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
