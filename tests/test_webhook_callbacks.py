"""Cases from the generic webhook get everything back as signed callbacks, at least once, each with its id.

A real Webex emulator and a real HTTP receiver that checks every signature the way ``manifest/webhook/README.md``
tells an admin to, and refuses what does not verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
from caseroom_sandbox.server import ServerThread
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.crm_webhook import sign
from bot.models import JobStatus
from bot.runtime import Runtime
from bot.timeline import Kind, events
from integrations.webhook import relay
from integrations.webhook.plugin import plugin as callbacks_plugin
from tests.doubles import FakeMessenger, SharedState
from tests.support import case_event, settings
from tests.test_dashboard import TOKEN, csrf_of, deliver, login
from tests.test_exact_record import CLOSE, CUSTOMER, closed, upload
from tests.webex_world import WebexWorld, webex_world

CALLBACK_SECRET = "callback-secret-of-the-crm"
ENGINEER = "ada@support.example"
SCHEMA = json.loads((Path(__file__).parents[1] / "manifest" / "webhook" / "events.schema.json").read_text())


@dataclass
class Receiver:
    """The CRM's automation: verifies each POST as documented, then keeps it (by event id: at least once)."""

    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # scripted answers before 200s
    posts: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        ts, given = request.headers.get("x-caseroom-timestamp", ""), request.headers.get("x-caseroom-signature", "")
        expected = "v1=" + hmac.new(CALLBACK_SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        with self.lock:
            if not ts or abs(time.time() - int(ts)) > 300 or not hmac.compare_digest(expected, given):
                self.refused.append(given)
                return JSONResponse({"error": "bad signature"}, status_code=401)
            event = json.loads(body)
            assert request.headers["x-caseroom-event-id"] == event["id"]
            self.posts.append(event)
            if self.answers:
                status, headers = self.answers.pop(0)
                return JSONResponse({"error": "not now"}, status_code=status, headers=headers)
        return Response(status_code=204)

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        """Each event once, as a receiver deduplicating by id keeps them, in the order first seen."""
        seen: dict[str, dict[str, Any]] = {}
        for e in list(self.posts):
            seen.setdefault(e["id"], e)
        return [e for e in seen.values() if type_ is None or e["type"] == type_]


@contextmanager
def world(tmp_path: Path, receiver: Receiver, **overrides: Any) -> Iterator[WebexWorld]:
    server = ServerThread(Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])).start()
    try:
        with webex_world(tmp_path, plugins=(callbacks_plugin,), fake_crm=False,
                         CASEROOM_CALLBACK_URL=f"{server.url}/hook", CASEROOM_CALLBACK_SECRET=CALLBACK_SECRET,
                         **overrides) as w:  # fmt: skip
            yield w
    finally:
        server.stop()


def local(w: WebexWorld, link: str) -> str:
    """A link minted for the public URL, fetched from this test's server."""
    return link.replace("https://caseroom.example", w.url)


def relayed(w: WebexWorld) -> None:
    """What the scheduler leader does every few seconds: the room's activity becomes events."""
    relay.run(w.rt.services)
    w.settle()


def test_a_webhook_case_reaches_its_crm_as_signed_events_from_opening_to_closure(tmp_path: Path) -> None:
    receiver = Receiver(answers=[(503, {"Retry-After": "0"})])  # the first delivery fails: it comes again
    with world(tmp_path, receiver) as w:
        w.deliver()
        w.settle(lambda: bool(receiver.events("room.ready")))
        room_id = str(w.room()["id"])
        (ready,) = receiver.events("room.ready")
        assert ready["data"] == {"url": "https://caseroom.example/rooms/00001234"}
        assert ready["case"] == {"id": "50000001234", "number": "00001234"}
        assert [e["id"] for e in receiver.posts].count(ready["id"]) == 2  # retried with the same id

        upload(w, room_id, "router-dump.bin")
        w.settle(lambda: bool(receiver.events("file.filed")))
        (filed,) = receiver.events("file.filed")
        content = b"router-dump.bin" * 100
        f = filed["data"]["file"]
        assert (f["name"], f["size"]) == ("router-dump.bin", len(content))
        assert f["sha256"] == hashlib.sha256(content).hexdigest()
        assert base64.b64decode(f["content_base64"]) == content  # small: inline as well as behind the link
        got = httpx.get(local(w, f["url"]))
        assert got.status_code == 200 and got.content == content
        assert got.headers["content-disposition"].startswith("attachment;")
        forged = local(w, f["url"]).replace(f"/files/{f['id']}?", f"/files/{f['id'] + 1}?")
        assert httpx.get(forged).status_code == 403  # a link names one file

        w.act("act/message", as_email=ENGINEER, room_id=room_id, text="/case note customer confirmed the firmware")
        w.settle(lambda: bool(receiver.events("comment.added")))
        relayed(w)
        invited = {(e["data"]["person"]["email"], e["data"]["person"]["name"], e["data"]["role"])
                   for e in receiver.events("participant.invited")}  # fmt: skip
        assert invited == {(CUSTOMER, "Carol Customer", "customer"), (ENGINEER, "Ada", "engineer")}
        assert {e["data"]["person"]["email"] for e in receiver.events("participant.joined")} == {CUSTOMER, ENGINEER}

        w.deliver(**CLOSE)
        w.settle(lambda: closed(w))
        relayed(w)
        (done,) = receiver.events("room.closed")
        assert [t["name"] for t in done["data"]["transcript"]] == ["case-00001234-transcript.html",
                                                                    "case-00001234-transcript.json"]  # fmt: skip
        assert [x["name"] for x in done["data"]["files"]] == ["router-dump.bin"]
        page = httpx.get(local(w, done["data"]["transcript"][0]["url"])).text
        assert "customer confirmed the firmware" in page and "router-dump.bin" in page
        removed = {e["data"]["person"]["email"] for e in receiver.events("participant.removed")}
        assert {CUSTOMER, ENGINEER} <= removed
        comments = [e["data"]["text"] for e in receiver.events("comment.added")]
        assert any("customer confirmed the firmware" in c for c in comments)
        assert any(c.startswith("CaseRoom transcript for case 00001234 filed") for c in comments)
        assert {e["data"]["person"]["email"] for e in receiver.events("participant.left")} == {CUSTOMER, ENGINEER}

        # Every event verified, matches the published schema, and each id stands for one thing.
        assert receiver.refused == []
        for e in receiver.events():
            jsonschema.validate(e, SCHEMA)
        assert len({e["id"] for e in receiver.events()}) == len(receiver.events())
        assert w.rt.queue.list(status=JobStatus.DEAD) == []
        relayed(w)  # read again: nothing is sent twice
        assert len(receiver.posts) == len(receiver.events()) + 1


def test_an_event_the_receiver_refuses_is_a_dead_letter_on_the_timeline_and_replays(tmp_path: Path) -> None:
    receiver = Receiver(answers=[(400, {})])
    with world(tmp_path, receiver, CASEROOM_ADMIN_TOKEN=TOKEN) as w:
        w.deliver()
        w.settle(lambda: bool(w.rt.queue.list(status=JobStatus.DEAD)))
        (dead,) = w.rt.queue.list(status=JobStatus.DEAD)
        assert dead.kind == "callback.deliver" and "the receiver answered 400" in (dead.last_error or "")
        with w.rt.db.session() as s:
            errors = [e.text for e in events(s, dead.payload["case_id"], kinds={Kind.ERROR})]
        assert any(f"Replay job {dead.id}" in t and "room.ready" in t for t in errors)

        # The delivery log says so, on its own page and on the case's, with the replay at hand.
        client = TestClient(w.rt.app)
        login(client)
        page = client.get("/admin/callbacks").text
        log = text_of(page)
        assert "0 delivered, 0 waiting, 0 sending, 1 failed" in log
        assert f"{dead.id} room.ready {dead.payload['event']['id']} 00001234 failed 1/20" in log
        assert "the receiver answered 400" in log and f"Replay job {dead.id}" in page
        assert "Callbacks to the CRM" in client.get("/admin/cases/00001234").text

        client.post(f"/admin/jobs/{dead.id}/retry", data={"csrf": csrf_of(client.get("/admin/callbacks").text)})
        w.settle(lambda: len(receiver.posts) == 2)
        first, again = receiver.posts
        assert first["id"] == again["id"] and again["type"] == "room.ready"  # the same event, once more
        assert "1 delivered, 0 waiting, 0 sending, 0 failed" in text_of(client.get("/admin/callbacks").text)
        health = text_of(client.get("/admin/health").text)
        assert re.search(r"webhook ok .*the receiver answered 400", health), "the integrations page lost the receiver"


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_the_delivery_log_says_when_callbacks_are_off(tmp_path: Path) -> None:
    with webex_world(tmp_path, CASEROOM_ADMIN_TOKEN=TOKEN) as w:
        client = TestClient(w.rt.app)
        login(client)
        page = text_of(client.get("/admin/callbacks").text)
        assert "Callbacks are off: set CASEROOM_CALLBACK_URL and CASEROOM_CALLBACK_SECRET" in page


def test_a_link_stops_working_when_it_expires_and_a_redirect_is_not_followed(tmp_path: Path) -> None:
    receiver = Receiver(answers=[(307, {"Location": "https://elsewhere.example/steal"})])
    with world(tmp_path, receiver) as w:
        w.deliver()
        w.settle(lambda: bool(w.rt.queue.list(status=JobStatus.DEAD)))
        (dead,) = w.rt.queue.list(status=JobStatus.DEAD)
        assert "answered 307" in (dead.last_error or "")  # refused for good, sent nowhere else
        past = int(time.time()) - 1
        signature = hmac.new(CALLBACK_SECRET.encode(), f"file.1.{past}".encode(), hashlib.sha256).hexdigest()
        expired = httpx.get(f"{w.url}/callbacks/files/1?expires={past}&signature={signature}")
        assert expired.status_code == 410 and "expired" in expired.json()["error"]


def test_the_transcript_is_kept_and_linked_at_closure_on_either_database(db_url: str, state_file: Path) -> None:
    receiver = Receiver()
    server = ServerThread(Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])).start()
    try:
        values = {"CASEROOM_CALLBACK_URL": f"{server.url}/hook", "CASEROOM_CALLBACK_SECRET": CALLBACK_SECRET,
                  "CASEROOM_CALLBACK_INLINE_BYTES": 0}
        rt = Runtime(settings(db_url, **values), plugins=[callbacks_plugin],
                     messaging={"webex": FakeMessenger(SharedState(state_file))})
        client = TestClient(rt.app)
        deliver(client, case_event())
        deliver(client, case_event(**CLOSE))
        rt.worker().drain()
        relay.run(rt.services)
        rt.worker().drain()

        (done,) = [e for e in receiver.events() if e["type"] == "room.closed"]
        html, data = done["data"]["transcript"]
        assert "content_base64" not in html  # over the inline limit (0 here): the link alone
        got = client.get(html["url"].removeprefix("https://caseroom.example"))
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
        assert hashlib.sha256(got.content).hexdigest() == html["sha256"] and b"VPN drops every hour" in got.content
        assert json.loads(client.get(data["url"].removeprefix("https://caseroom.example")).content)["case"]["number"] \
            == "00001234"
        assert "room.ready" in [e["type"] for e in receiver.events()]
        assert receiver.refused == [] and rt.queue.list(status=JobStatus.DEAD) == []

        # Kept for CASEROOM_CALLBACK_KEEP_DAYS after the case closed, then gone, and the link says so.
        assert relay.purge(rt.services, keep_days=14) == 0
        later = rt.services.clock() + timedelta(days=15)
        rt.services.clock = lambda: later
        assert relay.purge(rt.services, keep_days=14) == 2
        gone = client.get(html["url"].removeprefix("https://caseroom.example"))
        assert gone.status_code == 410 and "no longer keeps" in gone.json()["error"]
        rt.stop()
    finally:
        server.stop()


def test_the_documented_verification_example_is_what_caseroom_signs() -> None:
    doc = (Path(__file__).parents[1] / "manifest" / "webhook" / "README.md").read_text()
    body = re.search(r"```\n(\{\"id\":\"evt_ready.*\})\n```", doc)
    header = re.search(r"X-CaseRoom-Signature: (v1=[0-9a-f]{64})", doc)
    assert body and header, "the worked example is gone from manifest/webhook/README.md"
    assert sign("callback-secret-of-the-crm", "1796515200", body.group(1).encode()) == header.group(1)
    jsonschema.validate(json.loads(body.group(1)), SCHEMA)
