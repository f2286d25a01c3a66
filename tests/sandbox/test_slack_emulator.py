"""Contract tests of the Slack emulator, driven through the real ``slack_sdk`` WebClient over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.slack import SlackEmulator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SECRET = "s3cret"
ADA = "ada@support.example"
KENJI = "kenji@support.example"
CAROL = "carol@customer.example"


class Receiver:
    """The app's request URLs: records what it is sent; ``fail_next`` makes the next event answer 500."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.fail_next = 0
        self.command_answer: dict[str, Any] = {"response_type": "ephemeral", "text": "working on it"}
        self.app = Starlette(routes=[Route("/events", self.events, methods=["POST"]),
                                     Route("/commands", self.commands, methods=["POST"])])  # fmt: skip

    async def events(self, request: Request) -> Response:
        raw = await request.body()
        with self.lock:
            self.calls.append({"kind": "event", "raw": raw, "headers": dict(request.headers)})
            failing = self.fail_next > 0
            self.fail_next -= 1 if failing else 0
        body = json.loads(raw)
        if body.get("type") == "url_verification":
            return JSONResponse({"challenge": body["challenge"]})
        return Response(status_code=500 if failing else 200)

    async def commands(self, request: Request) -> Response:
        raw = await request.body()
        with self.lock:
            self.calls.append({"kind": "command", "raw": raw, "headers": dict(request.headers)})
        return JSONResponse(self.command_answer)

    def events_seen(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(c["raw"]) for c in self.calls if c["kind"] == "event"]

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()
            self.fail_next = 0


@pytest.fixture(scope="module")
def emu() -> SlackEmulator:
    return SlackEmulator(signing_secret=SECRET, seed=7, team_id="T0CASEROOM", team_domain="caseroom-sandbox")


@pytest.fixture(scope="module")
def server(emu: SlackEmulator) -> Iterator[ServerThread]:
    with ServerThread(emu.app) as srv:
        yield srv


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    with ServerThread(rec.app) as srv:
        yield rec, srv.url


@pytest.fixture(autouse=True)
def clean(emu: SlackEmulator, server: ServerThread, receiver: tuple[Receiver, str]) -> None:
    emu.reset()
    emu.connect_enabled = True
    emu.set_request_urls()
    receiver[0].clear()
    emu.add_user(ADA, "Ada Lovelace")
    emu.add_user(KENJI, "Kenji Sato")
    emu.add_user(CAROL, "Carol Customer", external=True)


@pytest.fixture()
def client(emu: SlackEmulator, server: ServerThread) -> WebClient:
    return WebClient(token=emu.bot_token, base_url=f"{server.url}/api/")


def code_of(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def user_id(emu: SlackEmulator, email: str) -> str:
    return emu.add_user(email, email)["id"]  # add_user returns the existing user


def channel(client: WebClient, name: str = "case-00001234", private: bool = True) -> str:
    return str(client.conversations_create(name=name, is_private=private)["channel"]["id"])


def sandbox(server: ServerThread, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{server.url}/_sandbox/{path}", json=body, timeout=10)


# -- identity and auth ------------------------------------------------------------------------------------
def test_auth_test_and_bad_tokens(emu: SlackEmulator, server: ServerThread, client: WebClient) -> None:
    me = client.auth_test()
    assert me["user_id"] == emu.bot_user_id and me["team_id"] == "T0CASEROOM" and me["bot_id"]
    assert me["url"] == "https://caseroom-sandbox.slack.com/"
    with pytest.raises(SlackApiError) as exc:
        WebClient(token="xoxb-wrong", base_url=f"{server.url}/api/").auth_test()
    assert code_of(exc) == "invalid_auth"
    assert requests.post(f"{server.url}/api/auth.test", timeout=5).json() == {"ok": False, "error": "not_authed"}
    form = requests.post(f"{server.url}/api/auth.test", data={"token": emu.bot_token}, timeout=5).json()
    assert form["ok"] is True


def test_users_lookup_and_info(emu: SlackEmulator, client: WebClient) -> None:
    user = client.users_lookupByEmail(email="ADA@support.example")["user"]
    assert user["profile"]["email"] == ADA and user["real_name"] == "Ada Lovelace" and user["is_bot"] is False
    info = client.users_info(user=user["id"])["user"]
    assert info["team_id"] == "T0CASEROOM" and info["tz"] and info["profile"]["real_name"] == "Ada Lovelace"
    for email in ("nobody@support.example", CAROL):  # people of other organisations are not found by e-mail
        with pytest.raises(SlackApiError) as exc:
            client.users_lookupByEmail(email=email)
        assert code_of(exc) == "users_not_found"
    carol = client.users_info(user=user_id(emu, CAROL))["user"]
    assert carol["team_id"] != "T0CASEROOM"
    with pytest.raises(SlackApiError) as exc:
        client.users_info(user="U0NOPE")
    assert code_of(exc) == "user_not_found"


# -- channels ---------------------------------------------------------------------------------------------
def test_create_name_rules_and_name_taken_by_archived(emu: SlackEmulator, client: WebClient) -> None:
    created = client.conversations_create(name="case-00001234", is_private=True)["channel"]
    assert created["is_private"] is True and created["creator"] == emu.bot_user_id and not created["is_archived"]
    for name, code in [("Case-1", "invalid_name_specials"), ("case 1", "invalid_name_specials"),
                       ("c" * 81, "invalid_name_maxlength"), ("case-00001234", "name_taken")]:  # fmt: skip
        with pytest.raises(SlackApiError) as exc:
            client.conversations_create(name=name)
        assert code_of(exc) == code, name
    client.conversations_archive(channel=created["id"])
    with pytest.raises(SlackApiError) as exc:
        client.conversations_archive(channel=created["id"])
    assert code_of(exc) == "already_archived"
    with pytest.raises(SlackApiError) as exc:
        client.conversations_create(name="case-00001234")
    assert code_of(exc) == "name_taken"  # an archived channel keeps its name
    assert client.conversations_create(name="case-00001234-2")["channel"]["name"] == "case-00001234-2"


def test_list_pagination_types_and_archived(client: WebClient) -> None:
    ids = [channel(client, f"case-{n}", private=n % 2 == 0) for n in range(5)]
    client.conversations_archive(channel=ids[0])
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        page = client.conversations_list(types="public_channel,private_channel", exclude_archived=False,
                                         limit=2, cursor=cursor)  # fmt: skip
        seen += page["channels"]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and [c["id"] for c in seen] == ids
    assert seen[0]["is_archived"] is True and seen[1]["is_member"] is True
    live = client.conversations_list(types="public_channel,private_channel", exclude_archived=True)["channels"]
    assert ids[0] not in [c["id"] for c in live]
    public = client.conversations_list()["channels"]  # default types: public_channel
    assert {c["id"] for c in public} == {ids[1], ids[3]}
    info = client.conversations_info(channel=ids[1])["channel"]
    assert info["name"] == "case-1" and info["num_members"] == 1
    with pytest.raises(SlackApiError) as exc:
        client.conversations_info(channel="C0NOPE")
    assert code_of(exc) == "channel_not_found"


def test_invite_kick_members_and_their_errors(emu: SlackEmulator, client: WebClient) -> None:
    cid = channel(client)
    ada, kenji = user_id(emu, ADA), user_id(emu, KENJI)
    client.conversations_invite(channel=cid, users=ada)
    for users, code in [(ada, "already_in_channel"), ("U0NOPE", "user_not_found"),
                        (emu.bot_user_id, "cant_invite_self"), (user_id(emu, CAROL), "cant_invite")]:  # fmt: skip
        with pytest.raises(SlackApiError) as exc:
            client.conversations_invite(channel=cid, users=users)
        assert code_of(exc) == code
    client.conversations_invite(channel=cid, users=kenji)
    first = client.conversations_members(channel=cid, limit=2)
    rest = client.conversations_members(channel=cid, limit=2, cursor=first["response_metadata"]["next_cursor"])
    assert first["members"] + rest["members"] == [emu.bot_user_id, ada, kenji]
    assert rest["response_metadata"]["next_cursor"] == ""
    client.conversations_kick(channel=cid, user=kenji)
    with pytest.raises(SlackApiError) as exc:
        client.conversations_kick(channel=cid, user=kenji)
    assert code_of(exc) == "not_in_channel"
    with pytest.raises(SlackApiError) as exc:
        client.conversations_kick(channel=cid, user=emu.bot_user_id)
    assert code_of(exc) == "cant_kick_self"
    client.conversations_archive(channel=cid)
    with pytest.raises(SlackApiError) as exc:
        client.conversations_invite(channel=cid, users=kenji)
    assert code_of(exc) == "is_archived"
    subtypes = [m.get("subtype") for m in emu.channel_messages(cid)]
    assert subtypes == ["channel_join", "channel_join", "channel_leave"]


def test_slack_connect_invite_accept_and_not_paid(emu: SlackEmulator, server: ServerThread,
                                                   client: WebClient) -> None:  # fmt: skip
    cid = channel(client)
    invite_id = client.conversations_inviteShared(channel=cid, emails=[CAROL], external_limited=True)["invite_id"]
    state = emu.snapshot()["channels"][0]
    assert state["pending_invites"][0]["id"] == invite_id and user_id(emu, CAROL) not in state["members"]
    accepted = sandbox(server, "act/accept_invite", {"invite_id": invite_id, "channel_id": cid})
    assert accepted.status_code == 200, accepted.text
    info = client.conversations_info(channel=cid)["channel"]
    assert info["is_ext_shared"] is True and user_id(emu, CAROL) in client.conversations_members(channel=cid)["members"]
    with pytest.raises(SlackApiError) as exc:
        client.conversations_inviteShared(channel=cid, emails=[CAROL])
    assert code_of(exc) == "already_in_channel"
    with pytest.raises(SlackApiError) as exc:
        client.conversations_inviteShared(channel=cid, emails=["not-an-email"])
    assert code_of(exc) == "invalid_email"
    emu.connect_enabled = False
    with pytest.raises(SlackApiError) as exc:
        client.conversations_inviteShared(channel=cid, emails=["dave@customer.example"])
    assert code_of(exc) == "not_paid"


def test_topic_purpose_and_bookmarks(emu: SlackEmulator, client: WebClient) -> None:
    cid = channel(client)
    assert client.conversations_setPurpose(channel=cid, purpose="CaseRoom case 1234")["channel"]["purpose"]["value"]
    client.conversations_setTopic(channel=cid, topic="Printer &amp; fax on fire")
    with pytest.raises(SlackApiError) as exc:
        client.conversations_setTopic(channel=cid, topic="x" * 251)
    assert code_of(exc) == "too_long"
    mark = client.bookmarks_add(channel_id=cid, title="CRM case", type="link", link="https://crm.example/1234")
    assert mark["bookmark"]["link"] == "https://crm.example/1234" and mark["bookmark"]["id"].startswith("Bk")
    state = emu.snapshot()["channels"][0]
    assert state["topic"] == "Printer &amp; fax on fire" and state["purpose"] == "CaseRoom case 1234"
    assert [b["title"] for b in state["bookmarks"]] == ["CRM case"]


# -- messages ---------------------------------------------------------------------------------------------
def test_post_message_threads_and_write_errors(emu: SlackEmulator, client: WebClient) -> None:
    cid = channel(client)
    posted = client.chat_postMessage(channel=cid, text="hello &lt;team&gt;")
    assert posted["channel"] == cid and posted["message"]["bot_id"] == emu.bot_id
    reply = client.chat_postMessage(channel=cid, text="in thread", thread_ts=posted["ts"])
    assert reply["message"]["thread_ts"] == posted["ts"]
    link = client.chat_getPermalink(channel=cid, message_ts=posted["ts"])["permalink"]
    assert link == f"https://caseroom-sandbox.slack.com/archives/{cid}/p{posted['ts'].replace('.', '')}"
    client.conversations_invite(channel=cid, users=user_id(emu, ADA))
    assert client.chat_postEphemeral(channel=cid, user=user_id(emu, ADA), text="psst")["message_ts"]
    other = channel(client, "case-other")
    client.conversations_invite(channel=other, users=user_id(emu, ADA))
    client.conversations_kick(channel=other, user=user_id(emu, ADA))
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C0NOPE", text="x")
    assert code_of(exc) == "channel_not_found"
    public = channel(client, "not-ours", private=False)
    emu.act_join(ADA, public)
    emu.act_leave(ADA, public)
    client.conversations_leave(channel=public)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=public, text="x")
    assert code_of(exc) == "not_in_channel"
    client.conversations_archive(channel=cid)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=cid, text="too late")
    assert code_of(exc) == "is_archived"


def test_history_pagination_replies_edits_and_deletes(emu: SlackEmulator, client: WebClient) -> None:
    cid = channel(client)
    emu.act_join(ADA, cid)
    stamps = [emu.act_message(ADA, cid, f"m{n}")["ts"] for n in range(5)]
    emu.act_message(ADA, cid, "r0", thread_ts=stamps[1])
    client.chat_postMessage(channel=cid, text="r1", thread_ts=stamps[1])
    client.chat_postMessage(channel=cid, text="r2", thread_ts=stamps[1])
    emu.act_edit(ADA, cid, stamps[2], "m2 (fixed)")
    emu.act_delete(ADA, cid, stamps[3])
    texts: list[str] = []
    cursor, pages = None, 0
    while True:
        page = client.conversations_history(channel=cid, limit=2, cursor=cursor)
        texts += [m["text"] for m in page["messages"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert pages == 3  # channel_join + 4 live messages
    assert texts == ["m4", "m2 (fixed)", "m1", "m0", f"<@{user_id(emu, ADA)}> has joined the channel"]
    top = {m["ts"]: m for m in client.conversations_history(channel=cid)["messages"]}
    assert top[stamps[1]]["reply_count"] == 3 and top[stamps[1]]["thread_ts"] == stamps[1]
    assert top[stamps[2]]["edited"]["user"] == user_id(emu, ADA)
    replies = client.conversations_replies(channel=cid, ts=stamps[1], limit=2)
    assert replies["messages"][0]["ts"] == stamps[1] and replies["has_more"] is True
    rest = client.conversations_replies(channel=cid, ts=stamps[1], cursor=replies["response_metadata"]["next_cursor"])
    assert [m["text"] for m in replies["messages"] + rest["messages"]] == ["m1", "r0", "m1", "r1", "r2"]
    with pytest.raises(SlackApiError) as exc:
        client.conversations_replies(channel=cid, ts="1.000001")
    assert code_of(exc) == "thread_not_found"


def test_files_shared_downloaded_and_uploaded(emu: SlackEmulator, server: ServerThread, client: WebClient) -> None:
    cid = channel(client)
    emu.act_join(ADA, cid)
    content = b"%PDF-1.4 tiny"
    shared = sandbox(server, "act/message", {"as_email": ADA, "channel_id": cid, "text": "logs", "file": {
        "name": "logs.pdf", "mime": "application/pdf", "content_b64": base64.b64encode(content).decode()}})  # fmt: skip
    assert shared.status_code == 200, shared.text
    msg = client.conversations_history(channel=cid, limit=1)["messages"][0]
    assert msg["subtype"] == "file_share" and msg["files"][0]["name"] == "logs.pdf"
    info = client.files_info(file=msg["files"][0]["id"])["file"]
    assert info["size"] == len(content) and info["mimetype"] == "application/pdf" and info["user"] == user_id(emu, ADA)
    assert info["url_private_download"].startswith(server.url)
    got = requests.get(info["url_private_download"], headers={"Authorization": f"Bearer {emu.bot_token}"}, timeout=5)
    assert got.status_code == 200 and got.content == content
    assert requests.get(info["url_private_download"], timeout=5).status_code == 403
    up = client.files_upload_v2(channel=cid, content=b"a,b\n1,2\n", filename="export.csv", title="Export",
                                initial_comment="the export")  # fmt: skip
    info = client.files_info(file=up["file"]["id"])["file"]
    assert info["name"] == "export.csv" and info["size"] == 8 and info["title"] == "Export"
    latest = client.conversations_history(channel=cid, limit=1)["messages"][0]
    assert latest["text"] == "the export" and latest["files"][0]["id"] == info["id"]
    with pytest.raises(SlackApiError) as exc:
        client.files_info(file="F0NOPE")
    assert code_of(exc) == "file_not_found"


# -- events -----------------------------------------------------------------------------------------------
def test_signed_event_deliveries(emu: SlackEmulator, client: WebClient, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    emu.set_request_urls(events=f"{url}/events", commands=f"{url}/commands")
    assert emu.verify_url()["ok"] is True
    cid = channel(client)
    client.conversations_invite(channel=cid, users=user_id(emu, ADA))
    upload = {"name": "a.txt", "mime": "text/plain", "content_b64": base64.b64encode(b"hi").decode()}
    ts = emu.act_message(ADA, cid, "hi <@U1>", file=upload)["ts"]
    emu.act_message(ADA, cid, "reply", thread_ts=ts)
    emu.act_edit(ADA, cid, ts, "edited")
    emu.act_delete(ADA, cid, ts)
    client.chat_postMessage(channel=cid, text="bot says")
    emu.act_leave(ADA, cid)
    assert emu.flush()
    verifier = SignatureVerifier(SECRET)
    for call in rec.calls:
        assert verifier.is_valid(call["raw"], call["headers"]["x-slack-request-timestamp"],
                                 call["headers"]["x-slack-signature"]), call["raw"]  # fmt: skip
    bodies = [b for b in rec.events_seen() if b["type"] == "event_callback"]
    assert all(b["team_id"] == "T0CASEROOM" and b["event_id"].startswith("Ev") and b["api_app_id"] for b in bodies)
    kinds = [(b["event"]["type"], b["event"].get("subtype")) for b in bodies]
    assert kinds == [
        ("member_joined_channel", None), ("message", "channel_join"), ("message", "file_share"),
        ("file_shared", None), ("message", None), ("message", "message_changed"), ("message", "message_deleted"),
        ("message", None), ("message", "channel_leave"), ("member_left_channel", None),
    ]  # fmt: skip
    joined = bodies[0]["event"]
    assert joined["user"] == user_id(emu, ADA) and joined["inviter"] == emu.bot_user_id and joined["channel"] == cid
    assert bodies[4]["event"]["thread_ts"] == ts and bodies[5]["event"]["message"]["text"] == "edited"
    assert bodies[6]["event"]["deleted_ts"] == ts and bodies[7]["event"]["bot_id"] == emu.bot_id
    assert bodies[3]["event"]["file_id"] == bodies[2]["event"]["files"][0]["id"]
    assert len({b["event_id"] for b in bodies}) == len(bodies)


def test_event_retried_with_retry_num_after_500(emu: SlackEmulator, client: WebClient,
                                                receiver: tuple[Receiver, str]) -> None:  # fmt: skip
    rec, url = receiver
    emu.set_request_urls(events=f"{url}/events")
    cid = channel(client)
    rec.fail_next = 2
    emu.act_join(ADA, cid)
    assert emu.flush()
    first = [d for d in emu.deliveries() if d["body"]["event"]["type"] == "member_joined_channel"]
    assert [(d["retry_num"], d["status"]) for d in first] == [(0, 500), (1, 500), (2, 200)]
    assert (
        first[1]["headers"]["X-Slack-Retry-Reason"] == "http_error" and first[2]["headers"]["X-Slack-Retry-Num"] == "2"
    )
    assert len({d["body"]["event_id"] for d in first}) == 1
    headers = [c["headers"] for c in rec.calls]
    assert "x-slack-retry-num" not in headers[0] and headers[1]["x-slack-retry-num"] == "1"


# -- slash commands ---------------------------------------------------------------------------------------
def test_slash_command_round_trip(emu: SlackEmulator, server: ServerThread, client: WebClient,
                                  receiver: tuple[Receiver, str]) -> None:  # fmt: skip
    rec, url = receiver
    emu.set_request_urls(commands=f"{url}/commands")
    cid = channel(client)
    emu.act_join(ADA, cid)
    answer = sandbox(server, "act/command", {"as_email": ADA, "channel_id": cid, "text": "status"}).json()
    assert answer["status"] == 200 and answer["body"]["text"] == "working on it"
    call = rec.calls[-1]
    assert SignatureVerifier(SECRET).is_valid(call["raw"], call["headers"]["x-slack-request-timestamp"],
                                              call["headers"]["x-slack-signature"])  # fmt: skip
    form = {k: v[0] for k, v in parse_qs(call["raw"].decode()).items()}
    assert form["command"] == "/case" and form["text"] == "status" and form["channel_id"] == cid
    assert form["user_id"] == user_id(emu, ADA) and form["team_id"] == "T0CASEROOM" and form["trigger_id"]
    assert form["response_url"] == answer["response_url"] and form["response_url"].startswith(server.url)
    later = requests.post(form["response_url"], json={"response_type": "in_channel", "text": "Case 1234: open"},
                          timeout=5)  # fmt: skip
    assert later.status_code == 200
    assert requests.post(form["response_url"] + "x", json={"text": "x"}, timeout=5).status_code == 404
    kinds = [(r["via"], r["response_type"], r["text"]) for r in emu.responses(cid)]
    assert kinds == [("immediate", "ephemeral", "working on it"), ("response_url", "in_channel", "Case 1234: open")]
    assert client.conversations_history(channel=cid, limit=1)["messages"][0]["text"] == "Case 1234: open"


# -- faults -----------------------------------------------------------------------------------------------
def test_rate_limit_answers_429_with_retry_after(emu: SlackEmulator, server: ServerThread, client: WebClient) -> None:
    knobs = sandbox(server, "knobs", {"rate_limits": {"chat.postMessage": {"limit": 1, "per_seconds": 60,
                                                                           "retry_after": 7}}})  # fmt: skip
    assert knobs.status_code == 200
    cid = channel(client)
    client.chat_postMessage(channel=cid, text="one")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=cid, text="two")
    assert exc.value.response.status_code == 429 and code_of(exc) == "ratelimited"
    assert exc.value.response.headers["Retry-After"] in ("7", ["7"])
    client.auth_test()  # other methods are not limited
    emu.faults.update(error_rate=1.0)
    with pytest.raises(SlackApiError) as exc:
        client.auth_test()
    assert exc.value.response.status_code == 500


def test_control_api_state_messages_and_reset(emu: SlackEmulator, server: ServerThread, client: WebClient) -> None:
    cid = channel(client)
    assert sandbox(server, "users", {"email": "new@support.example", "name": "New"}).json()["id"].startswith("U")
    assert sandbox(server, "act/join", {"as_email": ADA, "channel_id": cid}).status_code == 200
    posted = sandbox(server, "act/message", {"as_email": ADA, "channel_id": cid, "text": "hi"}).json()
    sandbox(server, "act/message", {"as_email": ADA, "channel_id": cid, "text": "re", "thread_ts": posted["ts"]})
    assert sandbox(server, "act/join", {"as_email": ADA, "channel_id": cid}).json()["error"] == "already_in_channel"
    assert sandbox(server, "act/message", {"as_email": ADA, "channel_id": "C0NOPE", "text": "x"}).status_code == 404
    msgs = requests.get(f"{server.url}/_sandbox/channels/{cid}/messages", timeout=5).json()["messages"]
    assert msgs[-1]["text"] == "hi" and msgs[-1]["replies"][0]["text"] == "re"
    state = requests.get(f"{server.url}/_sandbox/state", timeout=5).json()
    assert state["channels"][0]["member_emails"] == [emu.store.bot.email, ADA]
    assert requests.get(f"{server.url}/_sandbox/deliveries", timeout=5).json() == {"deliveries": []}
    assert sandbox(server, "reset", {}).json() == {"ok": True}
    assert emu.snapshot()["channels"] == [] and emu.store.user_by_email(ADA) is not None


def test_messenger_against_the_emulator(emu: SlackEmulator, server: ServerThread, client: WebClient) -> None:
    messenger_mod = pytest.importorskip("integrations.slack.messenger")
    from integrations.messaging import FileRef, MemberOutcome, RoomSpec

    m = messenger_mod.SlackMessenger(client)
    blocked = channel(client, "case-00000042")
    client.conversations_archive(channel=blocked)
    room = m.ensure_room(RoomSpec("00000042", "Case 00000042", "Printer <!channel>", "https://crm.example/42"))
    assert room.name == "case-00000042-2" and room.url.endswith(f"/archives/{room.room_id}")
    m.prepare_room(room.room_id, RoomSpec("00000042", "Case 00000042", "Printer <!channel>", "https://crm.example/42"))
    assert m.add_member(room.room_id, ADA).outcome is MemberOutcome.ADDED
    assert m.add_member(room.room_id, ADA).outcome is MemberOutcome.ALREADY
    assert m.add_member(room.room_id, CAROL, external=True).outcome is MemberOutcome.INVITED
    emu.accept_invite(email=CAROL, channel_id=room.room_id)
    assert m.add_member(room.room_id, CAROL, external=True).outcome is MemberOutcome.ALREADY
    first = m.post(room.room_id, "hello <!here>")
    emu.act_message(ADA, room.room_id, "thanks", thread_ts=first, file={"name": "a.txt", "mime": "text/plain",
                                                                         "content_b64": "aGk="})  # fmt: skip
    history = list(m.history(room.room_id))
    assert any(h.text == "hello <!here>" for h in history)
    reply = next(h for h in history if h.text == "thanks")
    assert reply.parent_id == first and reply.author_email == ADA and reply.files
    got = m.download_file(FileRef(reply.files[0].file_id, "a.txt", None, None))
    assert got.content == b"hi" and got.name == "a.txt"
    emails = {p.email for p in m.list_members(room.room_id)}
    assert {ADA, CAROL} <= emails
    m.remove_member(room.room_id, user_id(emu, ADA))
    m.remove_member(room.room_id, user_id(emu, ADA))  # not_in_channel is fine
    m.archive(room.room_id)
    m.archive(room.room_id)
    assert emu.snapshot()["channels"][1]["is_archived"] is True


def test_event_retried_as_http_timeout(emu: SlackEmulator, client: WebClient, server: ServerThread) -> None:
    calls: list[dict[str, str]] = []

    async def slow(request: Request) -> Response:
        calls.append(dict(request.headers))
        if len(calls) == 1:
            await asyncio.sleep(0.6)
        return Response(status_code=200)

    emu.dispatcher.timeout = 0.3  # Slack's 3 s, shortened
    try:
        with ServerThread(Starlette(routes=[Route("/events", slow, methods=["POST"])])) as slow_srv:
            emu.set_request_urls(events=f"{slow_srv.url}/events")
            emu.act_join(ADA, channel(client))
            assert emu.flush()
    finally:
        emu.dispatcher.timeout = 3.0
    assert calls[1]["x-slack-retry-num"] == "1" and calls[1]["x-slack-retry-reason"] == "http_timeout"
    assert [d["status"] for d in emu.deliveries()][:2] == [None, 200]


def test_bolt_app_accepts_events_and_commands(emu: SlackEmulator, server: ServerThread, client: WebClient) -> None:
    bolt = pytest.importorskip("slack_bolt")
    from slack_bolt.adapter.starlette import SlackRequestHandler

    seen: list[str] = []
    app = bolt.App(client=client, signing_secret=SECRET, process_before_response=True)  # calls auth.test

    @app.event("member_joined_channel")
    def joined(event: dict[str, Any]) -> None:
        seen.append(f"joined:{event['user']}")

    @app.event("message")
    def message(event: dict[str, Any]) -> None:
        seen.append(f"message:{event.get('subtype')}:{event.get('text')}")

    @app.command("/case")
    def case(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack(f"status of {command['text']}")
        respond(response_type="in_channel", text="Case 1234 is open")

    handler = SlackRequestHandler(app)

    async def endpoint(request: Request) -> Response:
        return await handler.handle(request)

    with ServerThread(Starlette(routes=[Route("/slack/events", endpoint, methods=["POST"])])) as bolt_srv:
        url = f"{bolt_srv.url}/slack/events"
        emu.set_request_urls(events=url, commands=url)
        assert emu.verify_url()["ok"] is True
        cid = channel(client)
        client.conversations_invite(channel=cid, users=user_id(emu, ADA))
        emu.act_message(ADA, cid, "hello bot")
        assert emu.flush()
        answer = emu.command(ADA, cid, "1234")
        assert emu.flush()
    assert answer["status"] == 200 and answer["body"] == "status of 1234"  # Bolt acks text as text/plain
    # the in_channel answer is a bot message: delivered too, and dropped by Bolt's self-event filter
    assert [d["status"] for d in emu.deliveries() if d["kind"] == "event"] == [200, 200, 200, 200]
    ada = user_id(emu, ADA)
    assert seen == [f"joined:{ada}", f"message:channel_join:<@{ada}> has joined the channel", "message:None:hello bot"]
    # process_before_response: respond() reaches the response_url before the ack is returned
    assert {r["via"]: r["response_type"] for r in emu.responses(cid)} == {
        "immediate": "ephemeral",
        "response_url": "in_channel",
    }
