"""The workspace: users, channels, messages, files and invitations, and every change to them.

Each change that Slack would announce calls ``on_event(event)`` with the inner Events API ``event``; the
emulator wraps, signs and delivers it. Everything runs under one re-entrant lock.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from caseroom_sandbox.slack.model import Bookmark, Channel, FileObj, Invite, Message, User
from caseroom_sandbox.slack.wire import Clock, IdMaker, SlackError

NAME_OK = re.compile(r"^[a-z0-9_-]+$")
NAME_MAX = 80
TOPIC_MAX = 250
TEXT_MAX = 40000
BOT_ICONS = {f"image_{n}": f"https://a.slack-edge.com/80588/img/plugins/app/bot_{n}.png" for n in (36, 48, 72)}


def now() -> int:
    return int(time.time())


class Store:
    def __init__(self, seed: int | None, team_id: str, team_domain: str, bot_name: str) -> None:
        self.lock = threading.RLock()
        self.ids = IdMaker(seed)
        self.clock = Clock()
        self.team_id = team_id
        self.team_domain = team_domain
        self.app_id = self.ids.make("A")
        self.bot_id = self.ids.make("B")
        self.bot = User(self.ids.make("U"), team_id, f"{bot_name}@bots.slack.invalid", bot_name, bot_name,
                        is_bot=True, bot_id=self.bot_id, updated=now())  # fmt: skip
        self.users: dict[str, User] = {self.bot.id: self.bot}
        self.external_teams: dict[str, str] = {}  # e-mail domain -> team id of the customer's organisation
        self.channels: dict[str, Channel] = {}
        self.files: dict[str, FileObj] = {}
        self.invites: dict[str, Invite] = {}
        self.on_event: Callable[[dict[str, Any], Channel | None], None] = lambda event, channel: None
        self.base: Callable[[], str] = lambda: "http://127.0.0.1/"

    def clear(self) -> None:
        with self.lock:
            self.channels.clear()
            self.files.clear()
            self.invites.clear()

    # -- users ----------------------------------------------------------------------------------------
    def add_user(self, email: str, name: str, *, external: bool = False, tz: str = "Europe/Amsterdam") -> User:
        with self.lock:
            found = self.user_by_email(email)
            if found is not None:
                return found
            team = self.team_id
            if external:
                domain = email.rsplit("@", 1)[-1].lower()
                team = self.external_teams.setdefault(domain, self.ids.make("T"))
            handle = email.split("@")[0].lower()
            user = User(self.ids.make("U"), team, email.lower(), handle, name, tz=tz, external=external, updated=now())
            self.users[user.id] = user
            return user

    def user_by_email(self, email: str) -> User | None:
        email = email.strip().lower()
        with self.lock:
            return next((u for u in self.users.values() if u.email == email and not u.is_bot), None)

    def user(self, user_id: str) -> User:
        found = self.users.get(user_id)
        if found is None:
            raise SlackError("user_not_found")
        return found

    # -- channels -------------------------------------------------------------------------------------
    def channel(self, channel_id: str, viewer: str | None = None) -> Channel:
        found = self.channels.get(channel_id)
        if found is None or (viewer and found.is_private and viewer not in found.members):
            raise SlackError("channel_not_found")
        return found

    def create_channel(self, name: str, is_private: bool, creator: User) -> Channel:
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > NAME_MAX:
            raise SlackError("invalid_name_maxlength")
        if not NAME_OK.match(name):
            raise SlackError("invalid_name_specials")
        if not name.strip("-_"):
            raise SlackError("invalid_name_punctuation")
        with self.lock:
            if any(c.name == name for c in self.channels.values()):  # archived channels keep their names
                raise SlackError("name_taken")
            ch = Channel(self.ids.make("C"), name, is_private, now(), creator.id)  # private ones get C ids too
            ch.members.append(creator.id)
            self.channels[ch.id] = ch
            return ch

    def writable(self, ch: Channel, actor: User) -> None:
        if ch.is_archived:
            raise SlackError("is_archived")
        if actor.id not in ch.members:
            raise SlackError("not_in_channel")

    def join(self, ch: Channel, user: User, inviter: User | None = None) -> None:
        with self.lock:
            if ch.is_archived:
                raise SlackError("is_archived")
            if user.id in ch.members:
                raise SlackError("already_in_channel")
            ch.members.append(user.id)
            if user.external and user.team_id not in ch.shared_team_ids:
                ch.shared_team_ids.append(user.team_id)
            event: dict[str, Any] = {"type": "member_joined_channel", "user": user.id, "channel": ch.id,
                                     "channel_type": ch.type_letter, "team": user.team_id}  # fmt: skip
            if inviter is not None and inviter.id != user.id:
                event["inviter"] = inviter.id
            self.on_event(event | {"event_ts": self.clock.ts()}, ch)
            text = f"<@{user.id}> has joined the channel"
            self._add(ch, Message(self.clock.ts(), ch.id, user.id, text, subtype="channel_join", team=user.team_id))

    def leave(self, ch: Channel, user: User) -> None:
        with self.lock:
            if user.id not in ch.members:
                raise SlackError("not_in_channel")
            text = f"<@{user.id}> has left the channel"
            self._add(ch, Message(self.clock.ts(), ch.id, user.id, text, subtype="channel_leave", team=user.team_id))
            ch.members.remove(user.id)
            event = {"type": "member_left_channel", "user": user.id, "channel": ch.id,
                     "channel_type": ch.type_letter, "team": user.team_id, "event_ts": self.clock.ts()}  # fmt: skip
            self.on_event(event, ch)

    def set_info(self, ch: Channel, actor: User, kind: str, value: str) -> None:
        """``kind`` is ``topic`` or ``purpose``; Slack posts a ``channel_topic``/``channel_purpose`` message."""
        with self.lock:
            self.writable(ch, actor)
            if len(value) > TOPIC_MAX:
                raise SlackError("too_long")
            setattr(ch, kind, {"value": value, "creator": actor.id, "last_set": now()})
            msg = Message(self.clock.ts(), ch.id, actor.id, f"set the channel {kind}: {value}",
                          subtype=f"channel_{kind}", team=actor.team_id)  # fmt: skip
            self._add(ch, msg)

    def archive(self, ch: Channel, actor: User) -> None:
        with self.lock:
            if ch.is_archived:
                raise SlackError("already_archived")
            if actor.id not in ch.members:
                raise SlackError("not_in_channel")
            ch.is_archived = True
            self.on_event({"type": "channel_archive", "channel": ch.id, "user": actor.id,
                           "event_ts": self.clock.ts()}, ch)  # fmt: skip

    def add_bookmark(self, ch: Channel, actor: User, title: str, link: str, kind: str) -> Bookmark:
        with self.lock:
            self.writable(ch, actor)
            if kind != "link":
                raise SlackError("invalid_bookmark_type")
            if not title:
                raise SlackError("invalid_title")
            if not re.match(r"^https?://", link):
                raise SlackError("invalid_link")
            mark = Bookmark(self.ids.make("Bk"), ch.id, title, link, kind, now(), actor.id, self.app_id)
            ch.bookmarks.append(mark)
            return mark

    def invite_shared(self, ch: Channel, actor: User, email: str | None, user_id: str | None,
                      external_limited: bool) -> Invite:  # fmt: skip
        with self.lock:
            self.writable(ch, actor)
            if user_id is not None:
                target = self.user(user_id)
                email = target.email
            assert email is not None
            if not re.match(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$", email):
                raise SlackError("invalid_email")
            known = self.user_by_email(email)
            if known is not None and known.id in ch.members:
                raise SlackError("already_in_channel")
            invite = Invite(self.ids.make("I"), ch.id, email.lower(), known.id if known else user_id, actor.id,
                            external_limited, now())  # fmt: skip
            self.invites[invite.id] = invite
            return invite

    def accept_invite(self, invite: Invite) -> User:
        with self.lock:
            if invite.status != "pending":
                raise SlackError("invite_not_pending")
            ch = self.channel(invite.channel_id)
            email = invite.email or ""
            user = self.user_by_email(email) or self.add_user(email, email.split("@")[0], external=True)
            invite.status = "accepted"
            inviter = self.users.get(invite.inviter)
            self.join(ch, user, inviter)
            return user

    # -- messages -------------------------------------------------------------------------------------
    def _add(self, ch: Channel, msg: Message, *, event_extra: dict[str, Any] | None = None) -> Message:
        ch.messages[msg.ts] = msg
        if msg.thread_ts and msg.thread_ts != msg.ts:
            parent = ch.messages[msg.thread_ts]
            parent.thread_ts = parent.ts
            parent.replies.append(msg.ts)
        event = self.message_json(msg) | {"channel": ch.id, "channel_type": ch.event_type, "event_ts": msg.ts}
        self.on_event(event | (event_extra or {}), ch)
        return msg

    def post(self, ch: Channel, author: User, text: str, *, thread_ts: str | None = None,
             blocks: list[Any] | None = None, files: list[FileObj] | None = None,
             as_app: bool = False) -> Message:  # fmt: skip
        """``as_app``: a slash command's answer, which Slack shows even where the app is not a member."""
        with self.lock:
            if as_app and ch.is_archived:
                raise SlackError("is_archived")
            if not as_app:
                self.writable(ch, author)
            if not text and not blocks and not files:
                raise SlackError("no_text")
            if len(text) > TEXT_MAX:
                raise SlackError("msg_too_long")
            if thread_ts:
                parent = ch.messages.get(thread_ts)
                if parent is None or parent.deleted:
                    raise SlackError("thread_not_found")
                thread_ts = parent.thread_ts or parent.ts  # a reply to a reply joins the parent's thread
            msg = Message(self.clock.ts(), ch.id, author.id, text, thread_ts=thread_ts, team=author.team_id,
                          blocks=blocks, subtype="file_share" if files else None)  # fmt: skip
            if author.is_bot:
                msg.bot_id, msg.app_id = self.bot_id, self.app_id
            for f in files or []:
                msg.files.append(f.id)
                if ch.id not in f.channels:
                    f.channels.append(ch.id)
            self._add(ch, msg)
            for f in files or []:
                self.on_event({"type": "file_shared", "channel_id": ch.id, "file_id": f.id, "user_id": author.id,
                               "file": {"id": f.id}, "event_ts": self.clock.ts()}, ch)  # fmt: skip
            return msg

    def find(self, ch: Channel, ts: str) -> Message:
        msg = ch.messages.get(ts)
        if msg is None or msg.deleted:
            raise SlackError("message_not_found")
        return msg

    def edit(self, ch: Channel, actor: User, ts: str, text: str) -> Message:
        with self.lock:
            if ch.is_archived:
                raise SlackError("is_archived")
            msg = self.find(ch, ts)
            if msg.user != actor.id:
                raise SlackError("cant_update_message")
            previous = self.message_json(msg)
            msg.text = text
            msg.edited = {"user": actor.id, "ts": self.clock.ts()}
            event_ts = self.clock.ts()
            self.on_event({"type": "message", "subtype": "message_changed", "hidden": True, "channel": ch.id,
                           "channel_type": ch.event_type, "ts": event_ts, "event_ts": event_ts,
                           "message": self.message_json(msg), "previous_message": previous}, ch)  # fmt: skip
            return msg

    def delete(self, ch: Channel, actor: User, ts: str) -> Message:
        with self.lock:
            if ch.is_archived:
                raise SlackError("is_archived")
            msg = self.find(ch, ts)
            if msg.user != actor.id:
                raise SlackError("cant_delete_message")
            previous = self.message_json(msg)
            msg.deleted = True
            if msg.thread_ts and msg.thread_ts != msg.ts and msg.ts in ch.messages[msg.thread_ts].replies:
                ch.messages[msg.thread_ts].replies.remove(msg.ts)
            event_ts = self.clock.ts()
            self.on_event({"type": "message", "subtype": "message_deleted", "hidden": True, "channel": ch.id,
                           "channel_type": ch.event_type, "ts": event_ts, "event_ts": event_ts, "deleted_ts": ts,
                           "previous_message": previous}, ch)  # fmt: skip
            return msg

    def message_json(self, msg: Message) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message"}
        if msg.subtype:
            out["subtype"] = msg.subtype
        out |= {"user": msg.user, "text": msg.text, "ts": msg.ts, "team": msg.team}
        if msg.bot_id:
            out |= {"bot_id": msg.bot_id, "app_id": msg.app_id,
                    "bot_profile": {"id": msg.bot_id, "app_id": msg.app_id, "name": self.bot.name,
                                    "team_id": self.team_id, "deleted": False, "updated": self.bot.updated,
                                    "icons": dict(BOT_ICONS)}}  # fmt: skip
        if msg.blocks is not None:
            out["blocks"] = msg.blocks
        if msg.files:
            base = self.base()
            out["files"] = [self.files[f].to_json(base, self.team_id, self.team_domain) for f in msg.files]
            out["upload"] = False
        if msg.edited:
            out["edited"] = dict(msg.edited)
        if msg.thread_ts:
            out["thread_ts"] = msg.thread_ts
            if msg.thread_ts == msg.ts:
                replies = [self.channels[msg.channel].messages[r] for r in msg.replies]
                out["reply_count"] = len(replies)
                out["reply_users_count"] = len({r.user for r in replies})
                out["reply_users"] = sorted({r.user for r in replies})
                out["latest_reply"] = replies[-1].ts if replies else msg.ts
            else:
                out["parent_user_id"] = self.channels[msg.channel].messages[msg.thread_ts].user
        return out

    # -- files ----------------------------------------------------------------------------------------
    def new_file(self, name: str, user: User, *, data: bytes | None = None, mimetype: str | None = None,
                 length: int = 0) -> FileObj:  # fmt: skip
        with self.lock:
            f = FileObj(self.ids.make("F"), name, name, mimetype or guess_mime(name), user.id, now(), data, length,
                        upload_key=self.ids.secret())  # fmt: skip
            self.files[f.id] = f
            return f

    def file_by_key(self, key: str) -> FileObj | None:
        with self.lock:
            return next((f for f in self.files.values() if f.upload_key == key), None)


def guess_mime(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"
