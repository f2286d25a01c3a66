"""Contract tests of the Webex emulator, driven through the real ``webexpythonsdk`` over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.webex import WebexEmulator, method_name
from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from webexpythonsdk import WebexAPI
from webexpythonsdk.exceptions import ApiError, RateLimitError

SPEC = json.loads((Path(__file__).parent / "specs" / "webex-messaging.json").read_text())
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ADA = "ada@support.example"


class Receiver:
    """A webhook target that records what it is sent; ``/flaky`` fails its first call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/{name}", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> JSONResponse:
        raw = await request.body()
        name = request.path_params["name"]
        with self.lock:
            self.calls.append({"name": name, "raw": raw, "headers": dict(request.headers)})
            first_flaky = name == "flaky" and sum(c["name"] == "flaky" for c in self.calls) == 1
        return JSONResponse({}, status_code=500 if first_flaky else 200)

    def named(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.calls if c["name"] == name]


@pytest.fixture(scope="module")
def emu() -> WebexEmulator:
    return WebexEmulator(seed=7)


@pytest.fixture(scope="module")
def server(emu: WebexEmulator) -> Iterator[ServerThread]:
    with ServerThread(emu.app) as srv:
        yield srv


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    with ServerThread(rec.app) as srv:
        yield rec, srv.url


@pytest.fixture(autouse=True)
def clean(emu: WebexEmulator, server: ServerThread) -> None:
    emu.reset()
    emu.add_person(ADA, "Ada Lovelace")


def sdk(server: ServerThread, token: str | None) -> WebexAPI:
    assert token
    return WebexAPI(access_token=token, base_url=f"{server.url}/v1/", wait_on_rate_limit=False)


@pytest.fixture
def bot(emu: WebexEmulator, server: ServerThread) -> WebexAPI:
    return sdk(server, emu.bot_token)


@pytest.fixture
def observer(emu: WebexEmulator, server: ServerThread) -> WebexAPI:
    return sdk(server, emu.observer_token)


def control(server: ServerThread, path: str, body: dict[str, Any]) -> Any:
    resp = requests.post(f"{server.url}/_sandbox/{path}", json=body, timeout=10)
    assert resp.status_code in (200, 204), resp.text
    return resp.json() if resp.content else None


def case_room(bot: WebexAPI, observer: WebexAPI | None = None) -> Any:
    room = bot.rooms.create("Case 00001234: printer on fire", isLocked=True)
    if observer is not None:
        bot.memberships.create(roomId=room.id, personEmail=observer.people.me().emails[0])
    bot.memberships.create(roomId=room.id, personEmail=ADA)
    return room


def conforms(name: str, instance: dict[str, Any]) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    Draft202012Validator(schema).validate(instance)


def test_people(bot: WebexAPI, emu: WebexEmulator) -> None:
    me = bot.people.me()
    assert (me.type, me.displayName, me.emails) == ("bot", "CaseRoom", ["caseroom@webex.bot"])
    [ada] = list(bot.people.list(email=ADA))
    assert ada.displayName == "Ada Lovelace" and bot.people.get(ada.id).emails == [ADA]
    assert "token" in emu.add_person("kenji@support.example", "Kenji Sato")


def test_auth_is_required(server: ServerThread) -> None:
    resp = requests.get(f"{server.url}/v1/people/me", timeout=5)
    assert resp.status_code == 401 and resp.json()["trackingId"] and resp.json()["errors"][0]["description"]
    with pytest.raises(ApiError) as err:
        sdk(server, "not-a-token").people.me()
    assert err.value.status_code == 401


def test_room_lifecycle(bot: WebexAPI) -> None:
    me = bot.people.me()
    room = bot.rooms.create("Case 1", isLocked=True, description="why")
    assert (room.type, room.isLocked, room.creatorId, room.title) == ("group", True, me.id, "Case 1")
    [mine] = list(bot.memberships.list(roomId=room.id))
    assert mine.isModerator and mine.personId == me.id
    assert bot.rooms.get(room.id).id == room.id
    assert room.id in [r.id for r in bot.rooms.list(type="group", sortBy="created", max=100)]
    assert bot.rooms.update(room.id, title="Case 1 (closed)", isAnnouncementOnly=True).isAnnouncementOnly
    bot.rooms.delete(room.id)
    with pytest.raises(ApiError) as err:
        bot.rooms.get(room.id)
    assert err.value.status_code == 404


def test_memberships(bot: WebexAPI, server: ServerThread) -> None:
    room = bot.rooms.create("Case 2", isLocked=True)
    known = bot.memberships.create(roomId=room.id, personEmail=ADA)
    assert (known.personDisplayName, known.roomType, known.isModerator) == ("Ada Lovelace", "group", False)
    guest = bot.memberships.create(roomId=room.id, personEmail="carol@customer.example")
    assert guest.personEmail == "carol@customer.example"
    assert list(bot.people.list(email="carol@customer.example")) == []  # another org: invited, not looked up
    with pytest.raises(ApiError) as err:
        bot.memberships.create(roomId=room.id, personEmail=ADA)
    assert err.value.status_code == 409 and err.value.tracking_id and err.value.message
    [found] = list(bot.memberships.list(roomId=room.id, personEmail=ADA))
    assert found.id == known.id and bot.memberships.get(known.id).personId == known.personId
    assert bot.memberships.update(known.id, isModerator=True).isModerator
    bot.memberships.delete(guest.id)
    assert {m.personEmail for m in bot.memberships.list(roomId=room.id)} == {"caseroom@webex.bot", ADA}


def test_messages_text_markdown_thread(bot: WebexAPI) -> None:
    room = case_room(bot)
    ada_id = next(iter(bot.people.list(email=ADA))).id
    first = bot.messages.create(roomId=room.id, text="hello")
    assert (first.text, first.roomType, first.personEmail) == ("hello", "group", "caseroom@webex.bot")
    rich = bot.messages.create(roomId=room.id, markdown="**Status** for <@personEmail:ada@support.example>")
    assert rich.mentionedPeople == [ada_id] and "<strong>Status</strong>" in rich.html
    assert rich.text == "Status for Ada Lovelace"
    reply = bot.messages.create(roomId=room.id, text="in thread", parentId=first.id)
    assert reply.parentId == first.id and bot.messages.get(reply.id).parentId == first.id
    with pytest.raises(ApiError) as err:
        bot.messages.create(roomId=room.id, text="x" * 7440)
    assert err.value.status_code == 400
    bot.messages.delete(reply.id)
    with pytest.raises(ApiError):
        bot.messages.get(reply.id)
    direct = bot.messages.create(toPersonEmail=ADA, text="private")
    assert direct.roomType == "direct"


def test_file_upload_and_scan_states(bot: WebexAPI, server: ServerThread, tmp_path: Path) -> None:
    room = case_room(bot)
    path = tmp_path / "trace.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(range(256)) * 10)
    msg = bot.messages.create(roomId=room.id, text="capture", files=[str(path)])
    [url] = msg.files
    assert url.startswith(f"{server.url}/v1/contents/")
    resp = bot._session._req_session.get(url, stream=True, timeout=10)
    assert resp.status_code == 200 and resp.content == path.read_bytes()
    assert resp.headers["Content-Disposition"] == 'attachment; filename="trace.pcap"'
    assert resp.headers["Content-Type"].startswith("application/")
    assert requests.get(url, timeout=5).status_code == 401
    content_id = url.rsplit("/", 1)[1]
    control(server, f"files/{content_id}/scan", {"state": "scanning"})
    locked = requests.get(url, headers={"Authorization": f"Bearer {bot.access_token}"}, timeout=5)
    assert locked.status_code == 423 and int(locked.headers["Retry-After"]) > 0
    control(server, f"files/{content_id}/scan", {"state": "infected"})
    assert bot._session._req_session.get(url, timeout=5).status_code == 410
    control(server, f"files/{content_id}/scan", {"state": "clean"})
    assert bot._session._req_session.get(url, timeout=5).content == path.read_bytes()


def test_observer_pages_all_messages_newest_first(bot: WebexAPI, observer: WebexAPI, server: ServerThread) -> None:
    room = case_room(bot, observer)
    sent = []
    for n in range(8):
        if n % 2:
            sent.append(control(server, "act/message", {"as_email": ADA, "room_id": room.id, "text": f"m{n}"})["id"])
        else:
            sent.append(bot.messages.create(roomId=room.id, text=f"m{n}").id)
    seen = [m.id for m in observer.messages.list(roomId=room.id, max=3)]  # 3 pages via Link headers
    assert seen == list(reversed(sent))
    first_page = requests.get(
        f"{server.url}/v1/messages", params={"roomId": room.id, "max": 3},
        headers={"Authorization": f"Bearer {observer.access_token}"}, timeout=5,
    )  # fmt: skip
    link = first_page.headers["Link"]
    assert re.match(rf'<{re.escape(server.url)}/v1/messages\?.*beforeMessage=.*>; rel="next"', link)


def test_bot_sees_only_mentions(bot: WebexAPI, server: ServerThread) -> None:
    room = case_room(bot)
    unseen = control(server, "act/message", {"as_email": ADA, "room_id": room.id, "text": "not for the bot"})
    asked = control(server, "act/message", {"as_email": ADA, "room_id": room.id, "text": "help", "mention_bot": True})
    assert asked["text"] == "CaseRoom help" and "spark-mention" in asked["html"]
    with pytest.raises(ApiError) as err:
        list(bot.messages.list(roomId=room.id))
    assert err.value.status_code == 403 and "mentionedPeople=me" in err.value.message
    assert [m.id for m in bot.messages.list(roomId=room.id, mentionedPeople="me")] == [asked["id"]]
    assert bot.messages.get(asked["id"]).mentionedPeople == [bot.people.me().id]
    with pytest.raises(ApiError) as err:
        bot.messages.get(unseen["id"])
    assert err.value.status_code == 404


def test_webhooks_crud_scoped_to_owner(bot: WebexAPI, observer: WebexAPI) -> None:
    hook = bot.webhooks.create(name="h", targetUrl="http://127.0.0.1:9/x", resource="messages", event="created",
                               secret="s")  # fmt: skip
    assert (hook.status, hook.secret, hook.resource) == ("active", "s", "messages")
    assert [h.id for h in bot.webhooks.list()] == [hook.id] and list(observer.webhooks.list()) == []
    assert bot.webhooks.update(hook.id, name="h2", targetUrl="http://127.0.0.1:9/y").name == "h2"
    assert bot.webhooks.get(hook.id).targetUrl == "http://127.0.0.1:9/y"
    bot.webhooks.delete(hook.id)
    assert list(bot.webhooks.list()) == []


def test_rate_limit_knob(bot: WebexAPI, server: ServerThread) -> None:
    room = case_room(bot)
    control(server, "knobs", {"rate_limits": {"messages.create": {"limit": 1, "per_seconds": 60, "retry_after": 7}}})
    bot.messages.create(roomId=room.id, text="one")
    with pytest.raises(RateLimitError) as err:
        bot.messages.create(roomId=room.id, text="two")
    assert err.value.retry_after == 7 and err.value.status_code == 429 and err.value.tracking_id
    assert bot.rooms.get(room.id)  # other methods are not limited
    assert method_name("GET", "/v1/contents/abc") == "contents.get"
    assert method_name("GET", "/v1/memberships") == "memberships.list"


def test_signed_delivery_and_visibility(
    bot: WebexAPI, observer: WebexAPI, server: ServerThread, emu: WebexEmulator, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    bot.webhooks.create(name="b", targetUrl=f"{url}/bot", resource="messages", event="created", secret="bot-secret")
    observer.webhooks.create(name="o", targetUrl=f"{url}/obs", resource="messages", event="created", secret="o-s")
    bot.webhooks.create(name="m", targetUrl=f"{url}/members", resource="memberships", event="all")
    bot.webhooks.create(name="f", targetUrl=f"{url}/flaky", resource="memberships", event="deleted", secret="x")
    room = case_room(bot, observer)
    plain = control(server, "act/message", {"as_email": ADA, "room_id": room.id, "text": "secret sauce"})
    mention = control(server, "act/message", {"as_email": ADA, "room_id": room.id, "text": "hi", "mention_bot": True})
    control(server, "act/leave", {"email": ADA, "room_id": room.id})
    assert emu.flush(10)
    bot_ids = [json.loads(c["raw"])["data"]["id"] for c in rec.named("bot")]
    obs_ids = [json.loads(c["raw"])["data"]["id"] for c in rec.named("obs")]
    assert bot_ids == [mention["id"]] and obs_ids == [plain["id"], mention["id"]]
    for call, secret in [(c, "bot-secret") for c in rec.named("bot")] + [(c, "o-s") for c in rec.named("obs")]:
        expected = hmac.new(secret.encode(), call["raw"], hashlib.sha1).hexdigest()
        assert hmac.compare_digest(call["headers"]["x-spark-signature"], expected)
        body = json.loads(call["raw"])
        assert body["resource"] == "messages" and "text" not in body["data"] and body["actorId"]
    members = [json.loads(c["raw"]) for c in rec.named("members")]
    assert "x-spark-signature" not in rec.named("members")[0]["headers"]
    assert [(b["event"], b["data"]["personEmail"]) for b in members][-1] == ("deleted", ADA)
    assert len(members) == 4  # bot (creator), observer, Ada joined; Ada left
    flaky = [d for d in emu.deliveries() if d["webhook_name"] == "f"]
    assert [d["status"] for d in flaky] == [500, 200] and flaky[1]["attempt"] == 2


def test_messages_are_edited_by_their_author_and_each_edit_is_notified(
    bot: WebexAPI, observer: WebexAPI, server: ServerThread, emu: WebexEmulator, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    bot.webhooks.create(name="b", targetUrl=f"{url}/edits-bot", resource="messages", event="updated", secret="b")
    observer.webhooks.create(name="o", targetUrl=f"{url}/edits-obs", resource="messages", event="all", secret="o")
    room = case_room(bot, observer)
    typo = control(server, "act/message", {"as_email": ADA, "room_id": room.id, "text": "teh logs"})
    mine = bot.messages.create(roomId=room.id, text="draft")
    edited = bot.messages.update(mine.id, roomId=room.id, markdown="**final** for <@personEmail:ada@support.example>")
    assert edited.text == "final for Ada Lovelace" and edited.mentionedPeople and edited.updated > edited.created
    conforms("Message", edited.to_dict())
    assert bot.messages.get(mine.id).text == "final for Ada Lovelace"
    refusals = [
        (lambda: bot.messages.update(typo["id"], roomId=room.id, text="x"), 403),  # only the author edits
        (lambda: bot.messages.update(mine.id, text="no room"), 400),  # roomId is required
        (lambda: bot.messages.update(mine.id, roomId=room.id), 400),  # text or markdown is required
    ]
    for refused, status in refusals:
        with pytest.raises(ApiError) as err:
            refused()
        assert err.value.status_code == status
    fixed = control(server, "act/edit", {"as_email": ADA, "message_id": typo["id"], "text": "the logs"})
    assert fixed["text"] == "the logs" and fixed["updated"] > fixed["created"]
    for n in range(9):  # a message is edited at most 10 times
        bot.messages.update(mine.id, roomId=room.id, text=f"take {n}")
    with pytest.raises(ApiError) as err:
        bot.messages.update(mine.id, roomId=room.id, text="one too many")
    assert err.value.status_code == 400 and bot.messages.get(mine.id).text == "take 8"
    # A participant deletes only their own messages in a locked room; the room's moderator (the bot) any.
    refused = requests.post(f"{server.url}/_sandbox/act/delete", json={"as_email": ADA, "message_id": mine.id})
    assert refused.status_code == 403
    control(server, "act/delete", {"as_email": ADA, "message_id": typo["id"]})
    assert emu.flush(10)
    heard = [json.loads(c["raw"]) for c in rec.named("edits-obs")]
    assert Counter((b["event"], b["data"]["id"]) for b in heard) == Counter(
        {("created", typo["id"]): 1, ("created", mine.id): 1, ("updated", typo["id"]): 1, ("updated", mine.id): 10,
         ("deleted", typo["id"]): 1})  # fmt: skip
    assert len({b["data"]["updated"] for b in heard if b["event"] == "updated"}) == 11  # each edit its own stamp
    assert all("text" not in b["data"] for b in heard)
    # The bot's webhook hears of edits to its own messages, and to those mentioning it; not of Ada's typo.
    assert {json.loads(c["raw"])["data"]["id"] for c in rec.named("edits-bot")} == {mine.id}


def test_timestamps_and_spec_conformance(bot: WebexAPI, server: ServerThread, emu: WebexEmulator) -> None:
    room = case_room(bot)
    bot.messages.create(roomId=room.id, markdown="**hi**")
    get = requests.Session()
    get.headers["Authorization"] = f"Bearer {emu.bot_token}"
    v1 = f"{server.url}/v1"
    room_json = get.get(f"{v1}/rooms/{room.id}", timeout=5).json()
    memberships = get.get(f"{v1}/memberships", params={"roomId": room.id}, timeout=5).json()
    messages = get.get(f"{v1}/messages", params={"roomId": room.id, "mentionedPeople": "me"}, timeout=5).json()
    created = get.post(f"{v1}/messages", json={"roomId": room.id, "text": "t"}, timeout=5).json()
    hook = get.post(f"{v1}/webhooks", json={"name": "n", "targetUrl": "http://x/", "resource": "rooms",
                                            "event": "created"}, timeout=5).json()  # fmt: skip
    conforms("Room", room_json)
    conforms("MembershipCollectionResponse", memberships)
    conforms("ListMessageCollectionResponse", messages)
    conforms("Message", created)
    conforms("Webhook", hook)
    conforms("Person", get.get(f"{v1}/people/me", timeout=5).json())
    stamps = [room_json["created"], room_json["lastActivity"], created["created"], hook["created"]]
    stamps += [m["created"] for m in memberships["items"]]
    assert all(TS.match(s) for s in stamps), stamps
    assert bot.rooms.get(room.id).created.year >= 2024  # the SDK parses it
    assert base64.urlsafe_b64decode(room.id + "==").startswith(b"ciscospark://us/ROOM/")


def test_control_state_and_reset(bot: WebexAPI, server: ServerThread) -> None:
    room = case_room(bot)
    control(server, "act/join", {"email": "kenji@support.example", "room_id": room.id})
    file = {"name": "n.txt", "mime": "text/plain", "content_b64": "aGk="}
    control(server, "act/message", {"as_email": ADA, "room_id": room.id, "text": "a", "file": file})
    state = requests.get(f"{server.url}/_sandbox/state", timeout=5).json()
    [r] = state["rooms"]
    assert r["messageCount"] == 1 and len(r["members"]) == 3
    [msg] = requests.get(f"{server.url}/_sandbox/rooms/{room.id}/messages", timeout=5).json()["items"]
    assert msg["text"] == "a" and bot._session._req_session.get(msg["files"][0], timeout=5).content == b"hi"
    control(server, "reset", {})
    assert requests.get(f"{server.url}/_sandbox/state", timeout=5).json()["rooms"] == []
    assert bot.people.me().type == "bot"  # tokens survive a reset
