"""A chat platform ("parley") and a CRM ("ledger") that exist only in the tests: a plugin from outside the product.

It is installed the way any third party's plugin is, through the entry points of its own distribution (the
``.dist-info`` folder beside this module; a test puts this folder on ``PYTHONPATH``), and it is written against the
public ports and plugin protocol only, so ``caseroom serve`` gains a chat platform and a CRM with no file of ``bot/``
changed. Its "cloud" is the serving process's memory, which its own route ``GET /parley/world`` shows.

A parley conversation is reached by a service URL and a conversation id together, as a Microsoft Teams conversation is:
the room id the core stores is both, joined by ``|``. The core keeps room ids opaque, and parley's events name a room
the same way, so they find their case.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import typer
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from bot import wirejson
from bot.config import HttpBase, PluginSettings
from bot.events import Actor, CaseEvent, CaseEventType, CommandRequest, RoomEvent
from bot.ingest import Ingest, JobSpec
from bot.plugins import PluginContext, PluginParts
from handlers import case_events, command_requests, room_events
from integrations.crm import CaseSnapshot, PermanentCRMError, Person, comment_parts
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
    Visibility,
)

_lock = threading.RLock()
http_log = logging.getLogger("parley.http")  # a line per call, as many SDKs write at INFO
WORLD: dict[str, dict[str, Any]] = {"rooms": {}, "cases": {}}  # parley's rooms by room id, ledger's cases by id


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def _secret_matches(request: Request, header: str, secret: str) -> bool:
    return hmac.compare_digest(request.headers.get(header, "").encode(), secret.encode())


# --- the chat platform ---------------------------------------------------------------------------------------------


class ParleySettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_", env_file=None, extra="ignore")

    token: SecretStr | None = None
    service_url: HttpBase = "https://eu.parley.example/svc/"

    @property
    def configured(self) -> bool:
        return self.token is not None


class Parley:
    platform = "parley"

    def __init__(self, service_url: str) -> None:
        self.service_url = service_url

    def _room(self, room_id: str) -> dict[str, Any]:
        room = WORLD["rooms"].get(room_id)
        if room is None:
            raise PermanentPlatformError(f"parley has no conversation {room_id!r}")
        return room

    def ensure_room(self, spec: RoomSpec) -> RoomRef:
        room_id = f"{self.service_url}|conv-{spec.key}"
        with _lock:
            new = {"name": f"case-{spec.key}", "title": spec.title, "topic": "", "members": {}, "posts": [],
                   "private": [], "archived": False}  # fmt: skip
            WORLD["rooms"].setdefault(room_id, new)
        return RoomRef(self.platform, room_id, self.room_link(room_id), f"case-{spec.key}")

    def prepare_room(self, room_id: str, spec: RoomSpec) -> None:
        with _lock:
            self._room(room_id)["topic"] = spec.topic

    def room_link(self, room_id: str) -> str:
        service, conversation = room_id.split("|")
        return f"{service}open/{conversation}"

    def add_member(self, room_id: str, email: str, *, external: bool = False) -> MemberResult:
        with _lock:
            members = self._room(room_id)["members"]
            if email.endswith("@unreachable.example"):
                return MemberResult(MemberOutcome.REFUSED, "parley knows nobody at this address")
            already = email in members
            members[email] = {"id": f"p-{email}", "name": email.split("@")[0]}
        return MemberResult(MemberOutcome.ALREADY if already else MemberOutcome.ADDED, member_id=f"p-{email}")

    def remove_member(self, room_id: str, member_id: str) -> None:
        with _lock:
            room = self._room(room_id)
            room["members"] = {e: m for e, m in room["members"].items() if m["id"] != member_id}

    def list_members(self, room_id: str) -> list[Member]:
        with _lock:
            return [Member(m["id"], e, m["name"]) for e, m in self._room(room_id)["members"].items()]

    def post(self, room_id: str, text: str, *, thread_id: str | None = None) -> str:
        http_log.info("POST %sconversations/messages", self.service_url)
        with _lock:
            posts = self._room(room_id)["posts"]
            posts.append({"id": f"post-{len(posts)}", "text": text, "thread": thread_id,
                          "at": datetime.now(UTC).isoformat()})  # fmt: skip
            return str(posts[-1]["id"])

    def post_files(self, room_id: str, text: str, files: Sequence[DownloadedFile]) -> PostedFiles:
        raise PermanentPlatformError("parley conversations take no files")

    def post_card(self, room_id: str, card: Card) -> str:
        return self.post(room_id, card.as_text())

    def reply_private(self, room_id: str, user_id: str, text: str, *, reply_token: str | None = None) -> None:
        with _lock:
            self._room(room_id)["private"].append({"to": user_id, "text": text})

    def ask_confirmation(self, room_id: str, user_id: str, confirmation: Confirmation, *,
                         reply_token: str | None = None) -> bool:  # fmt: skip
        return False  # parley has no buttons: a destructive command runs as typed

    def history(self, room_id: str) -> Iterator[HistoryMessage]:
        with _lock:
            posts = list(self._room(room_id)["posts"])
        for p in posts:
            author = p.get("author") or {"id": "parley-bot", "email": "bot@parley.example", "name": "CaseRoom"}
            yield HistoryMessage(p["id"], author["id"], author["email"], author.get("name", ""), p["text"],
                                 datetime.fromisoformat(p["at"]), parent_id=p["thread"])  # fmt: skip

    def download_file(self, file: FileRef) -> DownloadedFile:
        return DownloadedFile(file.name, file.mime or "text/plain", f"the bytes of {file.name}".encode())

    def archive(self, room_id: str) -> None:
        with _lock:
            self._room(room_id)["archived"] = True

    def visibility(self) -> Visibility:
        return Visibility()


def _parley_router(ingest: Ingest, service_url: str, token: str) -> APIRouter:
    """``POST /webhooks/parley``: what people do in parley rooms, signed with the shared token."""
    r = APIRouter()

    @r.post("/webhooks/parley", tags=["webhooks"])
    async def parley_event(request: Request) -> Response:
        if not _secret_matches(request, "x-parley-token", token):
            return _refuse(401, "X-Parley-Token missing or wrong")
        body = await request.body()
        try:
            e = wirejson.loads(body)
            room_id = f"{e.get('service_url', service_url)}|{e['conversation']}"
            who = e["user"]
            actor = Actor(who["id"], who["email"].lower(), who.get("name", ""))
            at = datetime.fromisoformat(e["at"])
            text = str(e.get("text", ""))
            if e["type"] == "message":
                with _lock:  # what the person said is in the conversation, as the platform would hold it
                    WORLD["rooms"][room_id]["posts"].append({"id": e["id"], "text": text, "thread": None,
                                                             "at": e["at"], "author": who})  # fmt: skip
            if e["type"] == "message" and text.startswith("/case"):
                req = CommandRequest("parley", room_id, actor, text[len("/case") :].strip(), at, message_id=e["id"])
                job = JobSpec(command_requests.KIND, req.to_payload())
            else:
                files = tuple(FileRef(f["id"], f["name"], f.get("size"), f.get("mime")) for f in e.get("files", ()))
                said = e["id"] if e["type"] in ("message", "file") else None
                ev = RoomEvent("parley", room_id, e["type"], e["id"], at, actor, text, message_id=said, files=files)
                job = JobSpec(room_events.KIND, ev.to_payload(), lane=room_events.lane("parley", room_id))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _refuse(400, f"not a parley event: {exc!r}")
        new = await ingest.accept_async("parley", e["id"], body.decode(), [job])
        return JSONResponse({"ok": True, "duplicate": not new})

    @r.get("/parley/world", tags=["parley"])
    def parley_world() -> dict[str, Any]:
        with _lock:
            return dict(json.loads(json.dumps(WORLD)))  # a copy taken under the lock

    return r


class ParleyPlugin:
    name = "parley"
    platform: str | None = "parley"
    settings = ParleySettings
    quiet_loggers = ("parley.http",)

    def build(self, ctx: PluginContext) -> PluginParts | None:
        s = ctx.settings.section(ParleySettings)
        if s.token is None:
            return None
        return PluginParts(messaging=Parley(s.service_url),
                           routers=[_parley_router(ctx.ingest, s.service_url, s.token.get_secret_value())],
                           webhooks={"/webhooks/parley": "parley"})  # fmt: skip


# --- the CRM -------------------------------------------------------------------------------------------------------


class LedgerSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=None, extra="ignore")

    secret: SecretStr | None = None
    comment_bytes: int = 400

    @property
    def configured(self) -> bool:
        return self.secret is not None


class Ledger:
    name = "ledger"

    def __init__(self, comment_bytes: int) -> None:
        self.comment_bytes = comment_bytes

    def _case(self, crm_id: str) -> dict[str, Any]:
        case = WORLD["cases"].get(crm_id)
        if case is None:
            raise PermanentCRMError(f"ledger has no case {crm_id!r}")
        return case

    def read_case(self, crm_id: str) -> CaseSnapshot | None:
        with _lock:
            case = WORLD["cases"].get(crm_id)
            return _snapshot(case["fields"]) if case else None

    def write_room_url(self, crm_id: str, url: str) -> None:
        with _lock:
            self._case(crm_id)["room_url"] = url

    def add_comment(self, crm_id: str, text: str) -> None:
        with _lock:
            self._case(crm_id)["comments"] += comment_parts(text, self.comment_bytes)

    def attach_file(self, crm_id: str, name: str, content: bytes, mime: str) -> str:
        with _lock:
            files = self._case(crm_id)["files"]
            files.append({"name": name, "mime": mime, "size": len(content)})
            return f"ledger-file-{len(files)}"


def _person(d: dict[str, Any] | None) -> Person | None:
    return Person(d["email"], d.get("name", "")) if d else None


def _snapshot(f: dict[str, Any]) -> CaseSnapshot:
    return CaseSnapshot(crm_id=f["id"], number=f["number"], subject=f["subject"], status=f["status"],
                        priority=f.get("priority", ""), is_closed=f["status"] == "closed",
                        customer=_person(f.get("customer")), engineer=_person(f.get("engineer")),
                        platform=f.get("platform"), modified_at=datetime.fromisoformat(f["modified"]))  # fmt: skip


def _ledger_router(ingest: Ingest, secret: str) -> APIRouter:
    """``POST /webhooks/ledger``: the ledger desk says a case was saved; its fields are the case as it is now."""
    r = APIRouter()

    @r.post("/webhooks/ledger", tags=["webhooks"])
    async def ledger_event(request: Request) -> Response:
        if not _secret_matches(request, "x-ledger-secret", secret):
            return _refuse(401, "X-Ledger-Secret missing or wrong")
        body = await request.body()
        try:
            f = wirejson.loads(body)
            snap = _snapshot(f)
        except (ValueError, KeyError, TypeError) as exc:
            return _refuse(400, f"not a ledger case: {exc!r}")
        with _lock:
            known = WORLD["cases"].setdefault(snap.crm_id, {"room_url": None, "comments": [], "files": []})
            opened = "fields" not in known
            known["fields"] = f
        kind: CaseEventType = "case.closed" if snap.is_closed else "case.opened" if opened else "case.updated"
        event = CaseEvent(f"{snap.crm_id}@{f['modified']}", kind, snap.modified_at or datetime.now(UTC), snap,
                          crm="ledger")  # fmt: skip
        job = JobSpec(case_events.KIND, event.to_payload(), lane=case_events.lane(snap.crm_id))
        new = await ingest.accept_async("ledger", event.event_id, body.decode(), [job])
        return JSONResponse({"ok": True, "duplicate": not new})

    return r


class LedgerPlugin:
    name = "ledger"
    platform: str | None = None
    settings = LedgerSettings

    def build(self, ctx: PluginContext) -> PluginParts | None:
        s = ctx.settings.section(LedgerSettings)
        if s.secret is None:
            return None
        routes = _ledger_router(ctx.ingest, s.secret.get_secret_value())
        return PluginParts(crm=Ledger(s.comment_bytes), routers=[routes], webhooks={"/webhooks/ledger": "ledger"})


chat = ParleyPlugin()
crm = LedgerPlugin()

cli = typer.Typer(help="The parley platform (a test plugin).", no_args_is_help=True)


@cli.command("room-name")
def room_name(case_number: str) -> None:
    """The name parley gives a case's room."""
    typer.echo(f"case-{case_number}")
