"""The messaging port for Slack: a channel per case, Slack Connect for customers, export, kick, archive."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
from slack_sdk import WebClient

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
from integrations.slack.errors import SlackCalls, SlackRefusal
from integrations.slack.text import SPOKEN, channel_name, escape, readable, trim

TEXT_LIMIT = 39000  # Slack refuses over 40,000 characters
SLACK_CLOUDS = ("slack.com", "slack-gov.com")  # hosts whose files live on files.<host>
MAX_ATTEMPTS = 20  # name suffixes tried before giving up
CONNECT_REFUSALS = {
    "not_paid": "this Slack workspace's plan does not include Slack Connect",
    "restricted_action": "the workspace's settings do not allow Slack Connect invitations",
    "invalid_email": "Slack does not accept the e-mail address",
    "not_allowed_token_type": "the app's token may not send Slack Connect invitations",
    "missing_scope": "the app lacks the conversations.connect:write scope",
    "team_not_found": "Slack Connect could not reach the customer's organisation",
}


def ts_time(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


CONFIRM_BLOCK = "caseroom.confirm.v1"
CONFIRM_ACTION, CANCEL_ACTION = "caseroom_confirm", "caseroom_cancel"
BUTTON_VALUE_LIMIT = 2000  # Block Kit's limit on a button's value


def confirmation_blocks(c: Confirmation) -> list[dict[str, Any]] | None:
    """The prompt and two buttons whose value carries the command to run; ``None`` if it does not fit."""
    value = json.dumps({"command": c.command, "room_id": c.room_id})
    if len(value) > BUTTON_VALUE_LIMIT:
        return None

    def button(label: str, action_id: str, style: str | None) -> dict[str, Any]:
        b = {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id, "value": value}
        return b | ({"style": style} if style else {})

    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(c.prompt)[:3000]}},
        {"type": "actions", "block_id": CONFIRM_BLOCK,
         "elements": [button("Confirm", CONFIRM_ACTION, "danger"), button("Cancel", CANCEL_ACTION, None)]},
    ]  # fmt: skip


class SlackMessenger:
    platform = "slack"

    def __init__(self, client: WebClient, *, name_template: str = "case-{number}", private: bool = True,
                 external_limited: bool = True, ca_bundle: str | None = None,
                 calls: SlackCalls | None = None) -> None:  # fmt: skip
        self.client = client
        self.calls = calls or SlackCalls()  # its pacing and its health record: this runtime's, not the process's
        self.name_template = name_template
        self.private = private
        self.external_limited = external_limited
        self.ca_bundle = ca_bundle
        self._emails: dict[str, tuple[str, str]] = {}

    @cached_property
    def own_origins(self) -> Origins:
        """Where the bot token may go: the Web API's origin and, on Slack's own cloud, its file host."""
        api = self.client.base_url
        host = urlsplit(api).hostname or ""
        files = [f"https://files.{host}"] if host in SLACK_CLOUDS else []
        return Origins([api, *files])

    @cached_property
    def _files(self) -> requests.Session:
        session = requests.Session()
        session.verify = self.ca_bundle or True
        return session

    @cached_property
    def identity(self) -> dict[str, Any]:
        return dict(self.calls.call("auth.test", self.client.auth_test).data)  # type: ignore[arg-type]

    @property
    def bot_user_id(self) -> str:
        return str(self.identity["user_id"])

    # -- rooms ----------------------------------------------------------------------------------
    def ensure_room(self, spec: RoomSpec) -> RoomRef:
        marker = f"CaseRoom case {spec.key}"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            name = channel_name(self.name_template, spec.key, attempt)
            try:
                created = self.calls.call("conversations.create", self.client.conversations_create, name=name,
                               is_private=self.private)  # fmt: skip
                channel = created["channel"]
            except SlackRefusal as exc:
                if exc.code != "name_taken":
                    raise
                channel = self._ours(name, marker)
                if channel is None:
                    continue  # another channel (often an archived one) holds the name: try the next suffix
            return RoomRef(self.platform, channel["id"], self.room_link(channel["id"]), channel["name"])
        raise PermanentPlatformError(f"no free channel name for case {spec.key} after {MAX_ATTEMPTS} tries")

    def _ours(self, name: str, marker: str) -> dict[str, Any] | None:
        """The channel called ``name`` if we created it for this case (before a crash lost its id)."""
        cursor = None
        while True:
            page = self.calls.call("conversations.list", self.client.conversations_list,
                types="public_channel,private_channel", exclude_archived=False, limit=1000, cursor=cursor)  # fmt: skip
            channels: list[dict[str, Any]] = page.get("channels", [])
            for ch in channels:
                if ch.get("name") == name:
                    mine = ch.get("creator") == self.bot_user_id or (ch.get("purpose") or {}).get("value") == marker
                    return ch if mine and not ch.get("is_archived") else None
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None

    def prepare_room(self, room_id: str, spec: RoomSpec) -> None:
        """Purpose (our marker), topic and the CRM bookmark: idempotent, alongside the invitations."""
        cid, marker = room_id, f"CaseRoom case {spec.key}"
        self.calls.call("conversations.setPurpose", self.client.conversations_setPurpose, channel=cid, purpose=marker)
        topic = trim(escape(" ".join(spec.topic.split())), 250)
        self.calls.call("conversations.setTopic", self.client.conversations_setTopic, channel=cid, topic=topic)
        if spec.crm_link:
            link = spec.crm_link
            try:
                self.calls.call("bookmarks.add", self.client.bookmarks_add, channel_id=cid, title="CRM case",
                                                                         type="link", link=link)  # fmt: skip
            except SlackRefusal as exc:
                if exc.code != "already_exists":
                    raise

    def room_link(self, room_id: str) -> str:
        return f"{str(self.identity.get('url', 'https://slack.com/')).rstrip('/')}/archives/{room_id}"

    def archive(self, room_id: str) -> None:
        try:
            self.calls.call("conversations.archive", self.client.conversations_archive, channel=room_id)
        except SlackRefusal as exc:
            if exc.code != "already_archived":
                raise

    # -- people -----------------------------------------------------------------------------------
    def add_member(self, room_id: str, email: str, *, external: bool = False) -> MemberResult:
        user = self._lookup(email)
        if user and not user.get("is_stranger") and not (external and user.get("is_restricted")):
            try:
                self.calls.call("conversations.invite", self.client.conversations_invite, channel=room_id,
                                                                                       users=user["id"])  # fmt: skip
            except SlackRefusal as exc:
                if exc.code == "already_in_channel":
                    return MemberResult(MemberOutcome.ALREADY, member_id=user["id"])
                if exc.code in ("user_is_restricted", "user_is_ultra_restricted", "cant_invite"):
                    return MemberResult(MemberOutcome.REFUSED, f"Slack would not add {email} ({exc.code})")
                raise
            return MemberResult(MemberOutcome.ADDED, member_id=user["id"])
        if not external:
            return MemberResult(MemberOutcome.REFUSED, f"{email} has no account in this Slack workspace")
        return self._connect(room_id, email)

    def _connect(self, room_id: str, email: str) -> MemberResult:
        """Invite a customer from another organisation through Slack Connect."""
        try:
            answer = self.calls.call("conversations.inviteShared", self.client.conversations_inviteShared,
                channel=room_id, emails=[email], external_limited=self.external_limited)  # fmt: skip
        except SlackRefusal as exc:
            if exc.code == "already_in_channel":
                return MemberResult(MemberOutcome.ALREADY)
            reason = CONNECT_REFUSALS.get(exc.code, f"Slack refused the Slack Connect invitation ({exc.code})")
            return MemberResult(MemberOutcome.REFUSED, reason)
        return MemberResult(MemberOutcome.INVITED, member_id=str(answer.get("invite_id", "")))

    def _lookup(self, email: str) -> dict[str, Any] | None:
        try:
            return dict(self.calls.call("users.lookupByEmail", self.client.users_lookupByEmail, email=email)["user"])
        except SlackRefusal as exc:
            if exc.code == "users_not_found":
                return None
            raise

    def remove_member(self, room_id: str, member_id: str) -> None:
        try:
            self.calls.call("conversations.kick", self.client.conversations_kick, channel=room_id, user=member_id)
        except SlackRefusal as exc:
            if exc.code != "not_in_channel":
                raise

    def list_members(self, room_id: str) -> list[Member]:
        ids: list[str] = []
        cursor = None
        while True:
            page = self.calls.call("conversations.members", self.client.conversations_members,
                channel=room_id, limit=1000, cursor=cursor)  # fmt: skip
            ids += page.get("members", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        out = []
        for uid in ids:
            email, name = self.person(uid)
            out.append(Member(uid, email, name, is_bot=uid == self.bot_user_id))
        return out

    def person(self, user_id: str) -> tuple[str, str]:
        if user_id not in self._emails:
            try:
                user = self.calls.call("users.info", self.client.users_info, user=user_id)["user"]
            except SlackRefusal:
                return "", ""
            profile = user.get("profile") or {}
            name = profile.get("real_name") or user.get("real_name") or user.get("name") or ""
            self._emails[user_id] = ((profile.get("email") or "").lower(), name)
        return self._emails[user_id]

    def readable(self, text: str) -> str:
        """A message's text for the record: mentions by name (``@Ada Lovelace``, not ``<@U1>``), entities unescaped."""
        return readable(text, lambda user_id: self.person(user_id)[1])

    # -- messages ---------------------------------------------------------------------------------
    def post(self, room_id: str, text: str, *, thread_id: str | None = None) -> str:
        # Escaped, and never parse=full or link_names: no untrusted text can ping @channel or a person.
        safe = escape(text)
        parts = [safe[i : i + TEXT_LIMIT] for i in range(0, len(safe), TEXT_LIMIT)] or [""]
        stamps = [self._post(channel=room_id, text=part, thread_ts=thread_id) for part in parts]
        return stamps[0]

    def _post(self, **fields: Any) -> str:
        return str(self.calls.call("chat.postMessage", self.client.chat_postMessage, **fields)["ts"])

    def post_files(self, room_id: str, text: str, files: Sequence[DownloadedFile]) -> PostedFiles:
        # files_upload_v2: files.getUploadURLExternal, the bytes to each upload URL (no token goes there), then
        # files.completeUploadExternal shares them in one message with the text as its comment. Slack shares
        # asynchronously, so that message's ts is not known yet: the files' ids stand for it.
        safe = escape(text)
        ids = []
        if len(safe) > TEXT_LIMIT:  # the comment is one message: a long text goes first, in parts
            ids.append(self.post(room_id, text))
            safe = ""
        names = [safe_file_name(f.name) for f in files]
        uploads = [{"content": f.content, "filename": n, "title": n} for f, n in zip(files, names, strict=True)]
        done = self.calls.call("files.completeUploadExternal", self.client.files_upload_v2, channel=room_id,
                               file_uploads=uploads, initial_comment=safe or None)  # fmt: skip
        refs = tuple(FileRef(str(up["id"]), name, len(f.content), f.mime)
                     for up, name, f in zip(done["files"], names, files, strict=True))  # fmt: skip
        return PostedFiles(tuple(ids), refs)

    def post_card(self, room_id: str, card: Card) -> str:
        title = {"type": "plain_text", "text": trim(card.title, 150)}
        blocks: list[dict[str, Any]] = [{"type": "header", "text": title}]
        if card.fields:
            blocks.append({"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*{escape(k)}*\n{escape(v)}"} for k, v in card.fields[:10]]})  # fmt: skip
        if card.footer:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(card.footer)}]})
        return self._post(channel=room_id, text=escape(card.as_text())[:TEXT_LIMIT], blocks=blocks)

    def reply_private(self, room_id: str, user_id: str, text: str, *, reply_token: str | None = None) -> None:
        self._ephemeral(room_id, user_id, escape(text)[:TEXT_LIMIT], reply_token)

    def ask_confirmation(self, room_id: str, user_id: str, confirmation: Confirmation, *,
                         reply_token: str | None = None) -> bool:  # fmt: skip
        """Block Kit buttons only the asker sees; a click comes back as ``block_actions`` to ``/slack/events``."""
        blocks = confirmation_blocks(confirmation)
        if blocks is None:
            return False  # too long to carry in a button: the command runs as typed
        self._ephemeral(room_id, user_id, escape(confirmation.prompt)[:TEXT_LIMIT], reply_token, blocks)
        return True

    def _ephemeral(self, room_id: str, user_id: str, safe: str, reply_token: str | None,
                   blocks: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
        """Show ``safe`` (already escaped) to one person: where their command was typed when there is a
        response_url that still answers, else as an ephemeral message in the channel."""
        extra: dict[str, Any] = {"blocks": blocks} if blocks else {}
        if reply_token:
            resp = requests.post(reply_token, json={"response_type": "ephemeral", "text": safe, **extra}, timeout=10,
                                 verify=self.ca_bundle or True)  # fmt: skip
            if resp.status_code < 300:
                return
        self.calls.call("chat.postEphemeral", self.client.chat_postEphemeral, channel=room_id, user=user_id, text=safe,
                        **extra)  # fmt: skip

    def respond(self, response_url: str, body: dict[str, Any]) -> None:
        """Post to an interaction's ``response_url`` (replace or delete the message that held the buttons)."""
        resp = requests.post(response_url, json=body, timeout=10, verify=self.ca_bundle or True)
        if resp.status_code >= 500:
            raise TransientPlatformError(f"Slack response_url: {resp.status_code}")
        if resp.status_code >= 300:  # used up or expired: retrying cannot help
            raise SlackRefusal("response_url", resp.text[:200] or str(resp.status_code))

    def history(self, room_id: str) -> Iterator[HistoryMessage]:
        for msg in self._pages("conversations.history", self.client.conversations_history, channel=room_id):
            if msg.get("subtype") in SPOKEN:
                yield self._history_message(msg)
            if msg.get("reply_count"):  # read even under a notice or a deleted parent's tombstone
                replies = self._pages("conversations.replies", self.client.conversations_replies,
                                      channel=room_id, ts=msg["ts"])  # fmt: skip
                for reply in replies:
                    if reply["ts"] != msg["ts"] and reply.get("subtype") in SPOKEN:
                        yield self._history_message(reply)

    def _pages(self, method: str, fn: Any, **args: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            page = self.calls.call(method, fn, limit=200, cursor=cursor, **args)
            yield from page.get("messages", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def _history_message(self, m: dict[str, Any]) -> HistoryMessage:
        uid = m.get("user") or m.get("bot_id") or ""
        email, name = self.person(uid) if m.get("user") else ("", m.get("username", ""))
        files = tuple(FileRef(f["id"], f.get("name", ""), f.get("size"), f.get("mimetype")) for f in m.get("files", []))
        edited = (m.get("edited") or {}).get("ts")
        parent = m.get("thread_ts") if m.get("thread_ts") not in (None, m["ts"]) else None
        return HistoryMessage(m["ts"], uid, email, name, self.readable(m.get("text", "")), ts_time(m["ts"]),
                              parent_id=parent, edited=ts_time(edited) if edited else None, files=files)  # fmt: skip

    # -- files ------------------------------------------------------------------------------------
    def shared_file(self, file_id: str, channel: str) -> tuple[FileRef, list[dict[str, Any]]] | None:
        """A file (``files.info``) and its shares in ``channel``, each naming the message (``ts``) that holds it.

        ``None`` when the file is gone (deleted since it was shared).
        """
        try:
            info = self.calls.call("files.info", self.client.files_info, file=file_id)["file"]
        except SlackRefusal as exc:
            if exc.code == "file_not_found":
                return None
            raise
        shares = info.get("shares") or {}
        here = [*(shares.get("public") or {}).get(channel, ()), *(shares.get("private") or {}).get(channel, ())]
        name = info.get("name") or info.get("title") or info["id"]
        return FileRef(info["id"], name, info.get("size"), info.get("mimetype")), here

    def download_file(self, file: FileRef) -> DownloadedFile:
        # Slack Connect files may say "check_file_info": files.info gives the download URL either way.
        info = self.calls.call("files.info", self.client.files_info, file=file.file_id)["file"]
        url = info.get("url_private_download") or info.get("url_private")
        if not url:
            raise PermanentPlatformError(f"Slack gives no download URL for {file.name or file.file_id}")
        try:
            resp = origins.get(self._files, url, allowed=self.own_origins, system="Slack",
                               credentials={"Authorization": f"Bearer {self.client.token}"}, timeout=60)  # fmt: skip
        except origins.ForeignOrigin as exc:
            # A remote file (files.remote.add: Google Drive and the like) has its url_private on its own host.
            raise PermanentPlatformError(str(exc)) from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientPlatformError(f"Slack file download: HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise PermanentPlatformError(f"Slack file download: HTTP {resp.status_code}")
        mime = info.get("mimetype") or file.mime or "application/octet-stream"
        return DownloadedFile(info.get("name") or file.name, mime, resp.content)

    def visibility(self) -> Visibility:
        return Visibility()
