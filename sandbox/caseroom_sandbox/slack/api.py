"""``/api/<method>``: the Web API methods CaseRoom (and Bolt) call, answered the way Slack answers them.

Arguments come from the query string and a form or JSON body (a body value wins); the token from
``Authorization: Bearer`` or a ``token`` argument. Only the bot token is known. Answers are HTTP 200
``{"ok": true, ...}`` / ``{"ok": false, "error": code}``; the fault knobs add 429 ``ratelimited`` (with
``Retry-After``) and 500 ``internal_error``, keyed by method name.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.slack.model import Channel, FileObj, Message, User
from caseroom_sandbox.slack.wire import SlackError, decode_cursor, encode_cursor, fail, ok, ts_key

if TYPE_CHECKING:
    from caseroom_sandbox.slack import SlackEmulator

HISTORY_MAX = 999
LIST_MAX = 1000

# A file object's ``shares``: "public"/"private" -> channel id -> the messages sharing the file there.
Shares = dict[str, dict[str, list[dict[str, Any]]]]


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    user: User
    base: str

    def get(self, key: str, default: str = "") -> str:
        value = self.args.get(key)
        return default if value is None else str(value)

    def need(self, key: str) -> str:
        value = self.get(key)
        if not value:
            raise SlackError("invalid_arguments", extra={"response_metadata": {"messages": [f"missing {key}"]}})
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.args.get(key)
        if value is None or value == "":
            return default
        return value is True or str(value).lower() in ("true", "1", "yes")

    def limit(self, default: int, maximum: int) -> int:
        try:
            value = int(self.get("limit") or default)
        except ValueError as exc:
            raise SlackError("invalid_limit") from exc
        return max(1, min(value if value > 0 else default, maximum))

    def json_arg(self, key: str) -> Any:
        value = self.args.get(key)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise SlackError("invalid_arguments") from exc
        return value


Handler = Callable[[Call], dict[str, Any]]


async def read_args(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if raw and "application/json" in ctype:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise SlackError("invalid_json") from exc
        if isinstance(body, dict):
            args.update(body)
    elif raw and "multipart/form-data" in ctype:
        form = await request.form()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
    elif raw:
        args.update(parse_qsl(raw.decode(), keep_blank_values=True))
    return args


def page(items: list[Any], cursor: str | None, limit: int, prefix: str) -> tuple[list[Any], str]:
    """Offset pagination: (items on this page, next cursor or "")."""
    start = int(decode_cursor(cursor, prefix) or 0)
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return chunk, encode_cursor(f"{prefix}:{start + limit}") if more else ""


class WebApi:
    def __init__(self, emu: SlackEmulator) -> None:
        self.emu = emu
        self.store = emu.store
        self.methods: dict[str, Handler] = {
            "api.test": lambda c: {"args": {k: v for k, v in c.args.items() if k != "token"}},
            "auth.test": self.auth_test,
            "conversations.create": self.create,
            "conversations.list": self.list,
            "conversations.info": self.info,
            "conversations.invite": self.invite,
            "conversations.inviteShared": self.invite_shared,
            "conversations.kick": self.kick,
            "conversations.join": self.join,
            "conversations.leave": self.leave,
            "conversations.archive": self.archive,
            "conversations.setTopic": lambda c: self.set_info(c, "topic"),
            "conversations.setPurpose": lambda c: self.set_info(c, "purpose"),
            "conversations.history": self.history,
            "conversations.replies": self.replies,
            "conversations.members": self.members,
            "users.lookupByEmail": self.lookup,
            "users.info": self.user_info,
            "chat.postMessage": self.post,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.update": self.update,
            "chat.delete": self.delete,
            "chat.getPermalink": self.permalink,
            "files.info": self.file_info,
            "files.getUploadURLExternal": self.upload_url,
            "files.completeUploadExternal": self.complete_upload,
            "bookmarks.add": self.bookmark_add,
            "bookmarks.list": self.bookmark_list,
        }

    def routes(self) -> list[Route]:
        return [
            Route("/api/{method}", self.dispatch, methods=["GET", "POST"]),
            Route("/upload/v1/{key}", self.upload, methods=["POST"]),
            Route("/files-pri/{team_file}/{rest:path}", self.download, methods=["GET"]),
        ]

    # -- plumbing -------------------------------------------------------------------------------------
    async def dispatch(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            args = await read_args(request)
        except SlackError as exc:
            return fail(exc.code)
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        token = bearer.strip() if scheme.lower() == "bearer" else ""
        token = token or str(args.pop("token", "") or "")
        if method not in self.methods:
            return fail("unknown_method", status=404)
        if not token:
            return fail("not_authed")
        if token != self.emu.bot_token:
            return fail("invalid_auth")
        call = Call(method, args, self.store.bot, self.emu.base_url(request))

        async def run(_: Request) -> Response:
            try:
                with self.store.lock:
                    return ok(**self.methods[method](call))
            except SlackError as exc:
                return fail(exc.code, status=exc.status, headers=exc.headers, **exc.extra)

        answer: Callable[[Request], Awaitable[Response]] = run
        return await self.emu.faults.apply(
            method, request, answer,
            on_ratelimit=lambda after: fail("ratelimited", status=429, headers={"Retry-After": str(after)}),
            on_error=lambda: fail("internal_error", status=500),
        )  # fmt: skip

    def channel_json(self, ch: Channel) -> dict[str, Any]:
        return ch.to_json(self.store.bot.id, self.store.team_id)

    def _channel(self, c: Call, key: str = "channel") -> Channel:
        return self.store.channel(c.need(key), viewer=c.user.id)

    def _reader(self, c: Call) -> Channel:
        ch = self._channel(c)
        if c.user.id not in ch.members:
            raise SlackError("not_in_channel")
        return ch

    # -- identity -------------------------------------------------------------------------------------
    def auth_test(self, c: Call) -> dict[str, Any]:
        s = self.store
        url = f"https://{s.team_domain}.slack.com/"
        return {"url": url, "team": s.team_domain, "user": s.bot.name, "team_id": s.team_id, "user_id": s.bot.id,
                "bot_id": s.bot_id, "is_enterprise_install": False}  # fmt: skip

    def lookup(self, c: Call) -> dict[str, Any]:
        user = self.store.user_by_email(c.need("email"))
        if user is None or user.external:  # people of other organisations are not found by e-mail
            raise SlackError("users_not_found")
        return {"user": user.to_json()}

    def user_info(self, c: Call) -> dict[str, Any]:
        return {"user": self.store.user(c.need("user")).to_json()}

    # -- channels -------------------------------------------------------------------------------------
    def create(self, c: Call) -> dict[str, Any]:
        ch = self.store.create_channel(c.get("name"), c.flag("is_private"), c.user)
        return {"channel": self.channel_json(ch)}

    def list(self, c: Call) -> dict[str, Any]:
        types = {t.strip() for t in c.get("types", "public_channel").split(",") if t.strip()}
        unknown = types - {"public_channel", "private_channel", "mpim", "im"}
        if unknown:
            raise SlackError("invalid_types")
        found = [
            ch for ch in self.store.channels.values()
            if (("private_channel" in types and ch.is_private and c.user.id in ch.members)
                or ("public_channel" in types and not ch.is_private))
            and not (c.flag("exclude_archived") and ch.is_archived)
        ]  # fmt: skip
        chunk, nxt = page(found, c.get("cursor") or None, c.limit(100, LIST_MAX), "channels")
        return {"channels": [self.channel_json(ch) for ch in chunk], "response_metadata": {"next_cursor": nxt}}

    def info(self, c: Call) -> dict[str, Any]:
        return {"channel": self.channel_json(self._channel(c))}

    def invite(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        if ch.is_archived:
            raise SlackError("is_archived")
        if c.user.id not in ch.members:
            raise SlackError("not_in_channel")
        ids = [u.strip() for u in c.need("users").split(",") if u.strip()]
        if len(ids) > 1000:
            raise SlackError("too_many_users")
        errors: list[dict[str, Any]] = []
        users: list[User] = []
        for uid in ids:
            code = None
            user = self.store.users.get(uid)
            if user is None:
                code = "user_not_found"
            elif uid == c.user.id:
                code = "cant_invite_self"
            elif uid in ch.members:
                code = "already_in_channel"
            elif user.external and user.team_id not in ch.shared_team_ids:
                code = "cant_invite"  # people of other organisations come in through Slack Connect only
            if code:
                errors.append({"user": uid, "ok": False, "error": code})
            elif user is not None:
                users.append(user)
        if errors and not c.flag("force"):
            raise SlackError(errors[0]["error"], extra={"errors": errors})
        for user in users:
            self.store.join(ch, user, inviter=c.user)
        return {"channel": self.channel_json(ch)} | ({"errors": errors} if errors else {})

    def invite_shared(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        if not self.emu.connect_enabled:
            raise SlackError("not_paid")
        emails = [e.strip() for e in c.get("emails").split(",") if e.strip()]
        user_ids = [u.strip() for u in c.get("user_ids").split(",") if u.strip()]
        if not emails and not user_ids:
            raise SlackError("invalid_arguments")
        if len(emails) + len(user_ids) > 1:
            raise SlackError("too_many_emails" if emails else "too_many_users")
        email, uid = (emails[0] if emails else None), (user_ids[0] if user_ids else None)
        invite = self.store.invite_shared(ch, c.user, email, uid, c.flag("external_limited", True))
        if self.emu.auto_accept_invites:
            self.store.accept_invite(invite)
        return {"invite_id": invite.id, "is_legacy_shared_channel": False}

    def kick(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        user = self.store.user(c.need("user"))
        if user.id == c.user.id:
            raise SlackError("cant_kick_self")
        if ch.is_archived:
            raise SlackError("is_archived")
        if c.user.id not in ch.members or user.id not in ch.members:
            raise SlackError("not_in_channel")
        self.store.leave(ch, user)
        return {}

    def join(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        if ch.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        if ch.is_archived:
            raise SlackError("is_archived")
        if c.user.id in ch.members:
            return {"channel": self.channel_json(ch), "warning": "already_in_channel",
                    "response_metadata": {"warnings": ["already_in_channel"]}}  # fmt: skip
        self.store.join(ch, c.user)
        return {"channel": self.channel_json(ch)}

    def leave(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        if ch.is_archived:
            raise SlackError("is_archived")
        if c.user.id not in ch.members:
            return {"not_in_channel": True}
        self.store.leave(ch, c.user)
        return {}

    def archive(self, c: Call) -> dict[str, Any]:
        self.store.archive(self._channel(c), c.user)
        return {}

    def set_info(self, c: Call, kind: str) -> dict[str, Any]:
        ch = self._channel(c)
        self.store.set_info(ch, c.user, kind, c.get(kind))
        return {"channel": self.channel_json(ch)}

    # -- reading --------------------------------------------------------------------------------------
    def history(self, c: Call) -> dict[str, Any]:
        ch = self._reader(c)
        inclusive = c.flag("inclusive")
        oldest = ts_key(c.get("oldest") or "0")
        latest = ts_key(c.get("latest")) if c.get("latest") else None
        top = [m for m in ch.messages.values() if not m.deleted and m.thread_ts in (None, m.ts)]
        top = [m for m in top if ts_key(m.ts) > oldest or (inclusive and ts_key(m.ts) == oldest)]
        if latest is not None:
            top = [m for m in top if ts_key(m.ts) < latest or (inclusive and ts_key(m.ts) == latest)]
        top.sort(key=lambda m: ts_key(m.ts), reverse=True)
        start = decode_cursor(c.get("cursor") or None, "next_ts")
        if start is not None:
            top = [m for m in top if ts_key(m.ts) <= ts_key(start)]
        limit = c.limit(100, HISTORY_MAX)
        chunk, more = top[:limit], len(top) > limit
        nxt = encode_cursor(f"next_ts:{top[limit].ts}") if more else ""
        return {"messages": [self.store.message_json(m) for m in chunk], "has_more": more,
                "pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0,
                "response_metadata": {"next_cursor": nxt}}  # fmt: skip

    def replies(self, c: Call) -> dict[str, Any]:
        ch = self._reader(c)
        parent = ch.messages.get(c.need("ts"))
        if parent is None or parent.deleted:
            raise SlackError("thread_not_found")
        if parent.thread_ts and parent.thread_ts != parent.ts:
            parent = ch.messages[parent.thread_ts]
        replies = [ch.messages[r] for r in parent.replies if not ch.messages[r].deleted]
        start = decode_cursor(c.get("cursor") or None, "next_ts")
        if start is not None:
            replies = [m for m in replies if ts_key(m.ts) >= ts_key(start)]
        limit = max(1, c.limit(1000, HISTORY_MAX) - 1)  # the parent comes first on every page
        chunk, more = replies[:limit], len(replies) > limit
        nxt = encode_cursor(f"next_ts:{replies[limit].ts}") if more else ""
        msgs: list[Message] = [parent, *chunk]
        return {"messages": [self.store.message_json(m) for m in msgs], "has_more": more,
                "response_metadata": {"next_cursor": nxt}}  # fmt: skip

    def members(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        chunk, nxt = page(list(ch.members), c.get("cursor") or None, c.limit(100, LIST_MAX), "members")
        return {"members": chunk, "response_metadata": {"next_cursor": nxt}}

    # -- messages -------------------------------------------------------------------------------------
    def post(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        blocks = c.json_arg("blocks")
        msg = self.store.post(ch, c.user, c.get("text"), thread_ts=c.get("thread_ts") or None,
                              blocks=blocks if isinstance(blocks, list) else None)  # fmt: skip
        return {"channel": ch.id, "ts": msg.ts, "message": self.store.message_json(msg)}

    def post_ephemeral(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        self.store.writable(ch, c.user)
        user = self.store.user(c.need("user"))
        if user.id not in ch.members:
            raise SlackError("user_not_in_channel")
        if not c.get("text") and not c.args.get("blocks"):
            raise SlackError("no_text")
        ts = self.store.clock.ts()
        blocks = c.json_arg("blocks")
        record = {"channel": ch.id, "user": user.id, "text": c.get("text"), "message_ts": ts,
                  "thread_ts": c.get("thread_ts") or None, "source": "chat.postEphemeral",
                  "blocks": blocks if isinstance(blocks, list) else None}  # fmt: skip
        self.emu.record_ephemeral(record)
        return {"message_ts": ts}

    def update(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        msg = self.store.edit(ch, c.user, c.need("ts"), c.get("text"))
        return {"channel": ch.id, "ts": msg.ts, "text": msg.text, "message": self.store.message_json(msg)}

    def delete(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        msg = self.store.delete(ch, c.user, c.need("ts"))
        return {"channel": ch.id, "ts": msg.ts}

    def permalink(self, c: Call) -> dict[str, Any]:
        ch = self._channel(c)
        msg = ch.messages.get(c.need("message_ts"))
        if msg is None:
            raise SlackError("message_not_found")
        link = f"https://{self.store.team_domain}.slack.com/archives/{ch.id}/p{msg.ts.replace('.', '')}"
        if msg.thread_ts and msg.thread_ts != msg.ts:
            link += f"?thread_ts={msg.thread_ts}&cid={ch.id}"
        return {"channel": ch.id, "permalink": link}

    # -- files ----------------------------------------------------------------------------------------
    def _file_json(self, c: Call, file_id: str) -> dict[str, Any]:
        f = self.store.files[file_id]
        return f.to_json(c.base, self.store.team_id, self.store.team_domain) | {"shares": self._shares(f)}

    def _shares(self, f: FileObj) -> Shares:
        """The file object's ``shares``: per channel, the messages that carry the file (``public`` or ``private``)."""
        found: Shares = {}
        for ch in (self.store.channels[cid] for cid in f.channels if cid in self.store.channels):
            for msg in ch.messages.values():
                if msg.deleted or f.id not in msg.files:
                    continue
                repliers = sorted({ch.messages[r].user for r in msg.replies if r in ch.messages})
                share: dict[str, Any] = {"reply_users": repliers, "reply_users_count": len(repliers),
                                         "reply_count": len(msg.replies),
                                         "ts": msg.ts, "channel_name": ch.name, "team_id": self.store.team_id,
                                         "share_user_id": msg.user, "source": "UNKNOWN"}  # fmt: skip
                if msg.thread_ts and msg.thread_ts != msg.ts:
                    share["thread_ts"] = msg.thread_ts
                found.setdefault("private" if ch.is_private else "public", {}).setdefault(ch.id, []).append(share)
        return found

    def file_info(self, c: Call) -> dict[str, Any]:
        f = self.store.files.get(c.need("file"))
        if f is None or f.data is None:
            raise SlackError("file_not_found")
        return {"file": self._file_json(c, f.id), "comments": [], "response_metadata": {"next_cursor": ""}}

    def upload_url(self, c: Call) -> dict[str, Any]:
        name = c.need("filename")
        try:
            length = int(c.need("length"))
        except ValueError as exc:
            raise SlackError("invalid_arguments") from exc
        f = self.store.new_file(name, c.user, length=length)
        return {"upload_url": f"{c.base}upload/v1/{f.upload_key}", "file_id": f.id}

    def complete_upload(self, c: Call) -> dict[str, Any]:
        entries = c.json_arg("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        files = []
        for entry in entries:
            f = self.store.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            if f is None or f.data is None:
                raise SlackError("file_not_found")
            if entry.get("title"):
                f.title = str(entry["title"])
            files.append(f)
        channel_ids = [x for x in [c.get("channel_id"), *c.get("channels").split(",")] if x]
        for cid in channel_ids:
            ch = self.store.channel(cid, viewer=c.user.id)
            self.store.post(ch, c.user, c.get("initial_comment"), thread_ts=c.get("thread_ts") or None, files=files)
        # Slack completes the sharing asynchronously (after its scans): the answer's files name no channel and no
        # share yet, so the message that holds them is known only from files.info or the history, later.
        unshared: dict[str, Any] = {"channels": [], "groups": [], "ims": [], "shares": {}}
        return {"files": [{"id": f.id, "title": f.title} | self._file_json(c, f.id) | unshared for f in files]}

    async def upload(self, request: Request) -> Response:
        f = self.store.file_by_key(request.path_params["key"])
        if f is None or f.data is not None:
            return Response("invalid upload url", status_code=404)
        f.data = await request.body()
        return Response(f"OK - {len(f.data)}", media_type="text/plain")

    async def download(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.emu.bot_token:
            return Response("not authorised", status_code=403)
        _, _, file_id = request.path_params["team_file"].partition("-")
        f = self.store.files.get(file_id)
        if f is None or f.data is None:
            return Response("file not found", status_code=404)
        disposition = "attachment" if request.path_params["rest"].startswith("download/") else "inline"
        return Response(f.data, media_type=f.mimetype,
                        headers={"Content-Disposition": f'{disposition}; filename="{f.name}"'})  # fmt: skip

    # -- bookmarks ------------------------------------------------------------------------------------
    def bookmark_add(self, c: Call) -> dict[str, Any]:
        ch = self.store.channel(c.need("channel_id"), viewer=c.user.id)
        mark = self.store.add_bookmark(ch, c.user, c.get("title"), c.get("link"), c.get("type"))
        return {"bookmark": mark.to_json()}

    def bookmark_list(self, c: Call) -> dict[str, Any]:
        ch = self.store.channel(c.need("channel_id"), viewer=c.user.id)
        return {"bookmarks": [b.to_json() for b in ch.bookmarks]}
