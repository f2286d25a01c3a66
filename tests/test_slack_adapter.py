"""Slack end to end: CRM webhook in, the real slack_sdk/Bolt against the Slack emulator, signed events back."""

from __future__ import annotations

import base64
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from caseroom_sandbox.server import ServerThread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.slack_world import CRM_LINK, CUSTOMER, ENGINEER, SlackWorld, slack_signed, slack_world

KENJI = "kenji@support.example"


def announcements(w: SlackWorld, channel_id: str, needle: str) -> int:
    return sum(needle in t for t in w.texts(channel_id))


def test_an_opened_case_gets_a_channel_its_people_topic_bookmark_and_url(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        for _ in range(2):  # the CRM retries: still one channel
            assert w.deliver().status_code == 200
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        w.settle()
        ch = w.channel()
        assert len(w.channels("case-00001234")) == 1
        assert ch["is_private"] is True
        assert ch["topic"] == "VPN drops every hour"
        assert [(b["title"], b["link"]) for b in ch["bookmarks"]] == [("CRM case", CRM_LINK)]
        assert ch["members"][0] == w.emu.bot_user_id and sorted(ch["member_emails"][1:]) == [ENGINEER]
        [invite] = ch["pending_invites"]  # Slack Connect: the customer is from another organisation
        assert (invite["email"], invite["external_limited"]) == (CUSTOMER, True)
        assert [c["url"] for c in w.state.calls("crm.write_room_url")] == ["https://caseroom.example/rooms/00001234"]
        link = httpx.get(f"{w.url}/rooms/00001234").headers.get("location", "")
        assert link.endswith(f"/archives/{ch['id']}")
        assert sum(t.startswith("Welcome") for t in w.texts(ch["id"])) == 1

        w.emu.accept_invite(email=CUSTOMER)
        w.settle(lambda: announcements(w, ch["id"], "carol joined the room") == 1)
        ch = w.channel()
        assert CUSTOMER in ch["member_emails"] and ch["pending_invites"] == []
        assert ch["is_ext_shared"] is True


def test_a_name_held_by_an_archived_channel_gets_a_deterministic_suffix(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        s = w.emu.store
        someone = s.user_by_email(KENJI)
        assert someone is not None
        old = s.create_channel("case-00001234", True, someone)
        s.archive(old, someone)
        ch = w.opened()
        assert ch["name"] == "case-00001234-2"
        assert ch["id"] != old.id and ch["topic"] == "VPN drops every hour"
        assert w.channel_by_id(old.id)["is_archived"] is True  # the old one is left alone
        assert w.channel_by_id(old.id)["members"] == [someone.id]


def test_a_refused_slack_connect_invitation_is_shown_in_the_channel_and_on_the_case(tmp_path: Path) -> None:
    with slack_world(tmp_path, connect_enabled=False) as w:
        ch = w.opened()
        w.settle(lambda: bool(w.state.calls("crm.add_comment")))
        notice = f"Could not add {CUSTOMER} to this room"
        assert announcements(w, ch["id"], notice) == 1
        assert any("Slack Connect" in t for t in w.texts(ch["id"]) if notice in t)
        comments = [c["text"] for c in w.state.calls("crm.add_comment")]
        assert sum(notice in c for c in comments) == 1
        assert w.channel()["pending_invites"] == []
        assert ENGINEER in w.channel()["member_emails"]


def test_joins_leaves_and_uploads_are_announced_and_files_go_to_the_crm(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        cid = w.opened()["id"]
        w.emu.act_join(KENJI, cid)
        w.emu.act_message(KENJI, cid, "here is the capture",
                          file={"name": "report.pcap", "mime": "application/vnd.tcpdump.pcap",
                                "content_b64": base64.b64encode(b"\xd4\xc3\xb2\xa1" * 1000).decode()})  # fmt: skip
        w.emu.act_leave(KENJI, cid)
        w.settle(lambda: bool(w.state.calls("crm.attach_file")) and announcements(w, cid, "left the room") > 0)
        assert announcements(w, cid, "Kenji Sato joined the room") == 1
        assert announcements(w, cid, "Kenji Sato left the room") == 1
        assert announcements(w, cid, "Kenji Sato uploaded report.pcap (4.0 KB)") == 1
        [filed] = w.state.calls("crm.attach_file")
        assert (filed["name"], filed["size"]) == ("report.pcap", 4000)


def test_a_retried_event_delivery_is_announced_once(tmp_path: Path) -> None:
    """The first attempt of every event is stored but its ack is lost: Slack retries with X-Slack-Retry-Num."""
    with slack_world(tmp_path) as w:
        cid = w.opened()["id"]
        seen: set[str] = set()
        retried: list[str] = []

        async def lossy(request: Request) -> Response:
            raw = await request.body()
            headers = {k: v for k, v in request.headers.items() if k.lower().startswith(("x-slack", "content-type"))}
            async with httpx.AsyncClient() as client:
                answer = await client.post(f"{w.url}/slack/events", content=raw, headers=headers)
            event_id = str(json.loads(raw).get("event_id"))
            if request.headers.get("x-slack-retry-num"):
                retried.append(event_id)
            if event_id not in seen:
                seen.add(event_id)
                return Response("upstream timeout", status_code=503)
            return Response(answer.content, status_code=answer.status_code)

        front = ServerThread(Starlette(routes=[Route("/events", lossy, methods=["POST"])])).start()
        try:
            w.emu.set_request_urls(events=f"{front.url}/events", commands=f"{w.url}/slack/events")
            w.emu.act_join(KENJI, cid)
            log = {"name": "vpn.log", "mime": "text/plain", "content_b64": base64.b64encode(b"x" * 2048).decode()}
            w.emu.act_message(KENJI, cid, "the log", file=log)
            w.settle(lambda: len(retried) >= 2 and bool(w.state.calls("crm.attach_file")))
        finally:
            front.stop()
        retries = [d for d in w.emu.deliveries() if d["retry_num"] and d["url"].endswith("/events")]
        assert retries and all(d["status"] == 200 for d in retries if d["body"]["event_id"] in retried)
        assert announcements(w, cid, "Kenji Sato joined the room") == 1
        assert announcements(w, cid, "Kenji Sato uploaded vpn.log (2.0 KB)") == 1
        assert [c["name"] for c in w.state.calls("crm.attach_file")] == ["vpn.log"]


def test_case_help_and_status_are_answered_within_the_ack(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        cid = w.opened()["id"]
        helped = w.emu.command(ENGINEER, cid, "help")
        assert helped["status"] == 200
        status = w.emu.command(ENGINEER, cid, "status")
        assert status["status"] == 200
        immediate = [r for r in w.emu.responses(cid) if r["via"] == "immediate"]
        assert len(immediate) == 2, w.emu.responses(cid)
        help_text, status_text = (str(r["text"] or "") for r in immediate)
        assert "/case status" in help_text
        assert "00001234" in status_text and "VPN drops every hour" in status_text
        # Answered inline: no job was needed, nothing arrived later through the response_url.
        w.settle()
        assert [r for r in w.emu.responses(cid) if r["via"] == "response_url"] == []


def test_mentions_in_a_case_subject_are_neutralised(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        assert w.deliver(subject="<!channel> hi @here <@U123>").status_code == 200
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        w.settle()
        ch = w.channel()
        assert ch["topic"] == "&lt;!channel&gt; hi @here &lt;@U123&gt;"
        texts = w.texts(ch["id"])
        assert any("&lt;!channel&gt;" in t for t in texts), texts
        for t in [ch["topic"], *texts]:
            assert "<!channel>" not in t and "<@U123>" not in t and "<!here>" not in t


def _thread_reply_only_in_history(w: SlackWorld, cid: str) -> None:
    parent = w.emu.act_message(ENGINEER, cid, "please run the capture again")
    w.settle()
    w.emu.set_request_urls(events=None, commands=w.emu.commands_url)  # live capture misses the reply
    w.emu.act_message(ENGINEER, cid, "threaded answer 42", thread_ts=parent["ts"])
    w.emu.set_request_urls(events=f"{w.url}/slack/events", commands=w.emu.commands_url)


def test_closing_files_the_transcript_with_threads_empties_and_archives_the_channel(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        cid = w.opened()["id"]
        w.emu.accept_invite(email=CUSTOMER)
        _thread_reply_only_in_history(w, cid)
        w.settle()
        assert w.deliver(event_id="evt_close", type_="case.closed", status="Closed").status_code == 200
        w.settle(lambda: w.channel_by_id(cid)["is_archived"])
        ch = w.channel_by_id(cid)
        assert ch["members"] == [w.emu.bot_user_id]
        filed: dict[str, Any] = {c["name"]: c for c in w.state.calls("crm.attach_file")}
        assert {"case-00001234-transcript.html", "case-00001234-transcript.json"} <= set(filed)
        for name in ("case-00001234-transcript.html", "case-00001234-transcript.json"):
            assert "threaded answer 42" in filed[name]["text"], name
            assert "please run the capture again" in filed[name]["text"], name
        assert any("Case 00001234 is closed" in t for t in w.texts(cid))


def test_a_bad_signature_or_a_stale_timestamp_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        cid = w.opened()["id"]
        kenji = w.emu.store.user_by_email(KENJI)
        assert kenji is not None
        before_jobs, before_texts = w.rt.queue.counts(), w.texts(cid)
        body = json.dumps({"type": "event_callback", "event_id": "EvForged1", "team_id": w.emu.team_id,
                           "api_app_id": w.emu.store.app_id, "event": {
                               "type": "member_joined_channel", "user": kenji.id, "channel": cid,
                               "event_ts": f"{time.time():.6f}"}}).encode()  # fmt: skip
        attempts = [
            {"Content-Type": "application/json"},
            slack_signed(body, secret="not-the-secret"),
            slack_signed(body, at=time.time() - 600),
            slack_signed(body, at=time.time() + 600),
            {**slack_signed(body), "X-Slack-Signature": "v0=" + "0" * 64},
        ]
        for headers in attempts:
            r = httpx.post(f"{w.url}/slack/events", content=body, headers=headers)
            assert r.status_code == 401, (headers, r.text)
        # A slash command with a forged signature gets no answer either.
        form = f"command=%2Fcase&text=status&channel_id={cid}&user_id={kenji.id}".encode()
        forged = {**slack_signed(form, secret="not-the-secret"), "Content-Type": "application/x-www-form-urlencoded"}
        r = httpx.post(f"{w.url}/slack/events", content=form, headers=forged)
        assert r.status_code == 401 and "00001234" not in r.text
        w.settle()
        assert w.rt.queue.counts() == before_jobs
        assert w.texts(cid) == before_texts
        # The same body, properly signed, is accepted: the refusals above were about the signature alone.
        assert httpx.post(f"{w.url}/slack/events", content=body, headers=slack_signed(body)).status_code == 200
        w.settle(lambda: announcements(w, cid, "Kenji Sato joined the room") == 1)


def test_a_bot_token_in_the_environment_starts_slack_without_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # How `caseroom serve` runs: the token comes from the environment, which Bolt reads whatever it is given.
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    with caplog.at_level(logging.WARNING), slack_world(tmp_path) as w:
        w.deliver()
        w.settle(lambda: bool(w.channels()))
    assert [r.getMessage() for r in caplog.records if r.name.startswith(("slack", "caseroom.slack"))] == []
