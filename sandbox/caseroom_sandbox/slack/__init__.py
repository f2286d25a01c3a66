"""A local emulator of the Slack Web API and Events API, for tests and `make run` without a workspace.

A test double at the network boundary: CaseRoom talks to it through the real ``slack_sdk`` ``WebClient`` and
``slack_bolt`` over real HTTP. Serve ``emu.app`` with ``ServerThread(emu.app).start()`` and point the SDK at
``WebClient(token=emu.bot_token, base_url=f"{url}/api/")``.

Python side: ``SlackEmulator(signing_secret, seed, team_id, team_domain, connect_enabled, bot_name, *,
auto_accept_invites)``; ``emu.app``, ``emu.bot_token``, ``emu.bot_user_id``, ``emu.team_id``, ``emu.faults``,
``emu.add_user(email, name, external=False)``, ``emu.set_request_urls(events=, commands=, interactivity=)``, the
actions ``act_message / act_edit / act_delete / act_join / act_leave / accept_invite / command / click``,
``emu.flush()``,
``emu.deliveries()``, ``emu.responses()``, ``emu.ephemerals()``, ``emu.snapshot()``, ``emu.reset()``.

``/api/<method>``: see ``api.WebApi.methods``; ``POST /upload/v1/<key>`` (files v2 upload URL),
``GET /files-pri/<team>-<file>/[download/]<name>`` (bearer bot token), ``POST /commands/...`` and
``POST /actions/...`` (response_urls of a slash command and of a Block Kit button click).
``/_sandbox`` (no auth): see ``control.Control.routes``.

Events: every change a member makes, and the bot's own writes, are sent as signed ``event_callback``s to the
events URL when the bot is in the channel and the event type is in ``emu.subscriptions``. Slack Connect
invitations stay pending until ``accept_invite`` unless ``auto_accept_invites=True``. Rate-limit knobs are
keyed by Web API method name (``chat.postMessage`` ...).
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from caseroom_sandbox.faults import FaultInjector, Knobs
from caseroom_sandbox.slack.api import WebApi
from caseroom_sandbox.slack.commands import Commands
from caseroom_sandbox.slack.control import Control
from caseroom_sandbox.slack.events import Dispatcher
from caseroom_sandbox.slack.interactions import Interactions
from caseroom_sandbox.slack.model import Channel, FileObj, User
from caseroom_sandbox.slack.state import Store
from caseroom_sandbox.slack.wire import SlackError

__all__ = ["SlackEmulator", "SlackError"]

SUBSCRIPTIONS = frozenset({"member_joined_channel", "member_left_channel", "file_shared", "message"})


class SlackEmulator:
    def __init__(
        self,
        signing_secret: str,
        seed: int | None = None,
        team_id: str = "T0CASEROOM",
        team_domain: str = "caseroom-sandbox",
        connect_enabled: bool = True,
        bot_name: str = "caseroom",
        *,
        auto_accept_invites: bool = False,
    ) -> None:
        self.signing_secret = signing_secret
        self.seed = seed
        self.connect_enabled = connect_enabled
        self.auto_accept_invites = auto_accept_invites
        self.public_url: str | None = None
        self._seen_base: str | None = None
        self.events_url: str | None = None
        self.commands_url: str | None = None
        self.interactivity_url: str | None = None  # None: the commands URL (one request URL, as CaseRoom's manifest)
        self.subscriptions: set[str] = set(SUBSCRIPTIONS)
        self.faults = FaultInjector(Knobs(seed=seed))
        self.store = Store(seed, team_id, team_domain, bot_name)
        self.store.on_event = self._publish
        self.store.base = self.base_url
        self.verification_token = self.store.ids.secret()
        self._bot_token = f"xoxb-{self.store.ids.secret(12)}-{self.store.ids.secret(12)}-{self.store.ids.secret()}"
        self.dispatcher = Dispatcher(signing_secret)
        self.commands = Commands(self)
        self.interactions = Interactions(self)
        self._ephemerals: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.api = WebApi(self)
        self.app = Starlette(routes=self.api.routes() + self.commands.routes() + Control(self).routes())

    # -- identities -----------------------------------------------------------------------------------
    @property
    def bot_token(self) -> str:
        return self._bot_token

    @property
    def bot_user_id(self) -> str:
        return self.store.bot.id

    @property
    def bot_id(self) -> str:
        return self.store.bot_id

    @property
    def team_id(self) -> str:
        return self.store.team_id

    def add_user(self, email: str, name: str, external: bool = False, tz: str = "Europe/Amsterdam") -> dict[str, Any]:
        return self.store.add_user(email, name, external=external, tz=tz).to_json()

    def set_request_urls(self, events: str | None = None, commands: str | None = None,
                         interactivity: str | None = None) -> None:  # fmt: skip
        self.events_url = events
        self.commands_url = commands
        self.interactivity_url = interactivity

    def base_url(self, request: Request | None = None) -> str:
        """Absolute base ending in '/', for upload, download and response URLs."""
        if request is not None:
            self._seen_base = str(request.base_url)
        if self.public_url:
            return self.public_url.rstrip("/") + "/"
        return self._seen_base or "http://127.0.0.1/"

    # -- events ---------------------------------------------------------------------------------------
    def _publish(self, event: dict[str, Any], channel: Channel | None) -> None:
        """Wrap, sign and queue an event if the app would hear of it (called under the store's lock)."""
        if not self.events_url or event.get("type") not in self.subscriptions:
            return
        bot = self.store.bot.id
        if channel is not None and bot not in channel.members and event.get("user") != bot:
            return
        s = self.store
        body = {
            "token": self.verification_token,
            "team_id": s.team_id,
            "context_team_id": s.team_id,
            "context_enterprise_id": None,
            "api_app_id": s.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": s.ids.make("Ev"),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": s.team_id,
                    "user_id": bot,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": bool(channel and channel.is_ext_shared),
            "event_context": f"4-{s.ids.secret(40)}",
        }
        self.dispatcher.enqueue("event", self.events_url, body)

    def verify_url(self) -> dict[str, Any]:
        """What Slack does when the events URL is saved: a signed ``url_verification`` challenge."""
        if not self.events_url:
            raise SlackError("no_events_url", status=409)
        import json

        challenge = self.store.ids.secret(40)
        body = {"token": self.verification_token, "challenge": challenge, "type": "url_verification"}
        done = self.dispatcher.send_now("url_verification", self.events_url, json.dumps(body).encode(),
                                        "application/json", body)  # fmt: skip
        return {"status": done.status, "ok": bool(done.response and challenge in done.response),
                "response": done.response}  # fmt: skip

    # -- acting as people -----------------------------------------------------------------------------
    def person(self, email: str) -> User:
        """The user with this e-mail; acting as someone unknown creates them as a colleague."""
        return self.store.user_by_email(email) or self.store.add_user(email, email.split("@")[0])

    def act_message(self, as_email: str, channel_id: str, text: str, thread_ts: str | None = None,
                    file: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """``file``: ``{name, mime, content_b64}``, shared with the message (``subtype: file_share``); with
        ``external_url`` instead of ``content_b64``, a remote file whose ``url_private`` is that URL."""
        s = self.store
        with s.lock:
            user = self.person(as_email)
            ch = s.channel(channel_id)
            files: list[FileObj] = []
            if file:
                try:
                    data = base64.b64decode(str(file.get("content_b64", "")), validate=True)
                except ValueError as exc:
                    raise SlackError("invalid_file", status=400) from exc
                s.writable(ch, user)
                shared = s.new_file(str(file.get("name") or "file"), user, data=data, mimetype=file.get("mime"))
                shared.external_url = str(file.get("external_url") or "")
                files.append(shared)
            msg = s.post(ch, user, text, thread_ts=thread_ts, files=files)
            return s.message_json(msg) | {"channel": ch.id}

    def act_edit(self, as_email: str, channel_id: str, ts: str, text: str) -> dict[str, Any]:
        with self.store.lock:
            msg = self.store.edit(self.store.channel(channel_id), self.person(as_email), ts, text)
            return self.store.message_json(msg) | {"channel": channel_id}

    def act_delete(self, as_email: str, channel_id: str, ts: str) -> dict[str, Any]:
        with self.store.lock:
            self.store.delete(self.store.channel(channel_id), self.person(as_email), ts)
            return {"channel": channel_id, "ts": ts}

    def act_join(self, as_email: str, channel_id: str) -> dict[str, Any]:
        with self.store.lock:
            user = self.person(as_email)
            if user.external:
                raise SlackError("restricted_action", status=403)  # only through a Slack Connect invitation
            ch = self.store.channel(channel_id)
            self.store.join(ch, user)
            return {"channel": ch.id, "user": user.id}

    def act_leave(self, as_email: str, channel_id: str) -> dict[str, Any]:
        with self.store.lock:
            user = self.person(as_email)
            ch = self.store.channel(channel_id)
            self.store.leave(ch, user)
            return {"channel": ch.id, "user": user.id}

    def accept_invite(self, invite_id: str | None = None, email: str | None = None,
                      channel_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        s = self.store
        with s.lock:
            found = [
                i for i in s.invites.values()
                if i.status == "pending" and (invite_id is None or i.id == invite_id)
                and (email is None or i.email == email.lower()) and (channel_id is None or i.channel_id == channel_id)
            ]  # fmt: skip
            if not found or (invite_id is None and email is None):
                raise SlackError("invite_not_found", status=404)
            user = s.accept_invite(found[0])
            return {"invite_id": found[0].id, "channel": found[0].channel_id, "user": user.to_json()}

    def command(self, as_email: str, channel_id: str, text: str, command: str = "/case") -> dict[str, Any]:
        """Type a slash command: POSTs to the commands URL (blocking) and returns the immediate answer."""
        with self.store.lock:
            user, ch = self.person(as_email), self.store.channel(channel_id)
        return self.commands.run(user, ch, text, command)

    def click(self, as_email: str, channel_id: str, action_id: str) -> dict[str, Any]:
        """Click the newest button ``action_id`` the app showed ``as_email`` in the channel (blocking)."""
        with self.store.lock:
            user, ch = self.person(as_email), self.store.channel(channel_id)
        return self.interactions.click(user, ch, action_id)

    # -- inspection -----------------------------------------------------------------------------------
    def record_ephemeral(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._ephemerals.append(record | {"at": time.time()})

    def ephemerals(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._ephemerals)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until queued event deliveries are done (delivered or given up); True when none is left."""
        return self.dispatcher.flush(timeout)

    def deliveries(self) -> list[dict[str, Any]]:
        return self.dispatcher.deliveries()

    def responses(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        with self.store.lock:
            return [r for r in self.commands.responses if channel_id in (None, r["channel_id"])]

    def channel_messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Every live message, oldest first; parents carry their ``replies``."""
        s = self.store
        with s.lock:
            ch = s.channel(channel_id)
            out = []
            for msg in sorted(ch.messages.values(), key=lambda m: m.ts):
                if msg.deleted or (msg.thread_ts and msg.thread_ts != msg.ts):
                    continue
                item = s.message_json(msg)
                if msg.replies:
                    item["replies"] = [s.message_json(ch.messages[r]) for r in msg.replies]
                out.append(item)
            return out

    def snapshot(self) -> dict[str, Any]:
        s = self.store
        base = self.base_url()
        with s.lock:
            channels = []
            for ch in s.channels.values():
                channels.append({
                    "id": ch.id, "name": ch.name, "is_private": ch.is_private, "is_archived": ch.is_archived,
                    "is_ext_shared": ch.is_ext_shared, "creator": ch.creator,
                    "topic": ch.topic["value"], "purpose": ch.purpose["value"],
                    "members": list(ch.members),
                    "member_emails": [s.users[m].email for m in ch.members],
                    "bookmarks": [b.to_json() for b in ch.bookmarks],
                    "pending_invites": [i.to_json() for i in s.invites.values()
                                        if i.channel_id == ch.id and i.status == "pending"],
                })  # fmt: skip
            return {
                "team": {
                    "id": s.team_id,
                    "domain": s.team_domain,
                    "bot_user_id": s.bot.id,
                    "bot_id": s.bot_id,
                    "app_id": s.app_id,
                },
                "channels": channels,
                "users": [u.to_json() | {"external": u.external} for u in s.users.values()],
                "messages": {cid: self.channel_messages(cid) for cid in s.channels},
                "files": [f.to_json(base, s.team_id, s.team_domain) for f in s.files.values() if f.data is not None],
                "invites": [i.to_json() for i in s.invites.values()],
                "responses": list(self.commands.responses),
                "ephemerals": self.ephemerals(),
                "knobs": self.faults.knobs.to_dict(),
            }

    def reset(self) -> None:
        """Empty channels, messages, files, invitations, deliveries and responses; keep users; clear knobs."""
        self.flush(timeout=5.0)
        self.store.clear()
        self.commands.clear()
        self.dispatcher.clear()
        with self._lock:
            self._ephemerals.clear()
        self.faults.configure(Knobs(seed=self.seed))
