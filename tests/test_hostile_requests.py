"""Signed but hostile requests: replays are one delivery, bad JSON is a 400, our own bugs are a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot import timeline
from bot.ingest import Ingest
from bot.models import Delivery, Job
from bot.runtime import Runtime
from integrations.slack.plugin import plugin as slack_plugin
from integrations.webex.plugin import plugin as webex_plugin
from tests.slack_world import ENGINEER, SIGNING_SECRET, SlackWorld, slack_signed, slack_world
from tests.support import case_event, settings, signed_headers

NOW = datetime(2026, 11, 22, 18, 0, 5, tzinfo=UTC)  # the service's clock here, never the wall clock
WEBEX_SECRET = "webex-test-webhook-secret"


def make_runtime(tmp_path: Path, **overrides: Any) -> Runtime:
    config = settings(f"sqlite:///{tmp_path / 'caseroom.db'}", SLACK_API_URL="http://127.0.0.1:9/api/",
                      SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SIGNING_SECRET,
                      WEBEX_BASE_URL="http://127.0.0.1:9/v1/", WEBEX_ACCESS_TOKEN="webex-test-token",
                      WEBEX_WEBHOOK_SECRET=WEBEX_SECRET, **overrides)  # fmt: skip
    rt = Runtime(config, plugins=[slack_plugin, webex_plugin])
    rt.services.clock = lambda: NOW
    return rt


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    """The three receivers, nothing processed (no workers): only received and stored."""
    runtime = make_runtime(tmp_path)
    try:
        yield runtime
    finally:
        runtime.stop()


def stored(rt: Runtime) -> tuple[int, int]:
    with rt.db.session() as s:
        return tuple(s.execute(select(func.count()).select_from(t)).scalar_one() for t in (Delivery, Job))  # type: ignore[return-value]


def webex_note(n: int = 1) -> dict[str, Any]:
    return {"id": f"wh-{n}", "resource": "messages", "event": "created",
            "data": {"id": f"msg-{n}", "roomId": "room-1", "personId": "p-1"}}  # fmt: skip


def slack_event(n: int = 1) -> dict[str, Any]:
    event = {"type": "message", "user": "U0CAROL", "channel": "C0CASE", "text": "hello", "ts": f"1.{n}",
             "channel_type": "group", "event_ts": f"1.{n}"}  # fmt: skip
    return {"token": "x", "team_id": "T0TEAM", "api_app_id": "A0APP", "type": "event_callback",
            "event_id": f"Ev{n:08d}", "event_time": 1, "event": event}  # fmt: skip


# Each receiver, and how its sender signs a body: all three are signed correctly in every test below.
SIGNERS: dict[str, tuple[str, Callable[[bytes], dict[str, str]]]] = {
    "crm": ("/webhooks/crm", lambda body: signed_headers(body, at=NOW.timestamp())),
    "webex": ("/webhooks/webex", lambda body: {"Content-Type": "application/json", "X-Spark-Signature":
                                              hmac.new(WEBEX_SECRET.encode(), body, hashlib.sha1).hexdigest()}),
    "slack": ("/slack/events", lambda body: slack_signed(body, at=NOW.timestamp())),
}  # fmt: skip
GOOD = {"crm": case_event(), "webex": webex_note(), "slack": slack_event()}


def deeply_nested(good: dict[str, Any], depth: int) -> bytes:
    return json.dumps({**good, "extra": "X"}).encode().replace(b'"X"', b"[" * depth + b"]" * depth)


HOSTILE: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "nested-10000-deep": lambda good: deeply_nested(good, 10_000),
    "nested-100-deep": lambda good: deeply_nested(good, 100),
    "utf-16": lambda good: json.dumps(good).encode("utf-16"),
    "utf-16-le-no-bom": lambda good: json.dumps(good).encode("utf-16-le"),
    "utf-32": lambda good: json.dumps(good).encode("utf-32"),
    "latin-1": lambda good: json.dumps({**good, "extra": "café"}, ensure_ascii=False).encode("latin-1"),
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
@pytest.mark.parametrize("source", sorted(SIGNERS))
def test_signed_hostile_json_gets_400_and_changes_nothing(rt: Runtime, source: str, hostile: str) -> None:
    path, signed = SIGNERS[source]
    body = HOSTILE[hostile](GOOD[source])
    r = TestClient(rt.app, raise_server_exceptions=False).post(path, content=body, headers=signed(body))
    assert r.status_code == 400, r.text
    assert stored(rt) == (0, 0)
    # The same event, sane, is taken: the refusal was about the body, not the signature or the event.
    sane = json.dumps({**GOOD[source], "extra": [[["fine"]]]}).encode()
    assert TestClient(rt.app).post(path, content=sane, headers=signed(sane)).status_code == 200
    assert stored(rt) == (1, 1)


def test_a_signed_slack_interaction_payload_nested_10000_deep_gets_400(rt: Runtime) -> None:
    payload = json.dumps({"type": "block_actions", "actions": "X"}).replace('"X"', "[" * 10_000 + "]" * 10_000)
    body = urlencode({"payload": payload}).encode()
    headers = slack_signed(body, at=NOW.timestamp(), content_type="application/x-www-form-urlencoded")
    r = TestClient(rt.app, raise_server_exceptions=False).post("/slack/events", content=body, headers=headers)
    assert r.status_code == 400
    assert stored(rt) == (0, 0)


@pytest.mark.parametrize("source", sorted(SIGNERS))
def test_a_bug_while_storing_is_a_500_logged_and_the_resent_delivery_is_kept_once(
    rt: Runtime, source: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path, signed = SIGNERS[source]
    body = json.dumps(GOOD[source]).encode()

    def bug(*_args: Any, **_kwargs: Any) -> bool:
        raise TypeError("a bug of ours, not the sender's")

    with monkeypatch.context() as m:
        m.setattr(Ingest, "accept", bug)
        m.setattr(Ingest, "accept_async", bug)
        r = TestClient(rt.app, raise_server_exceptions=False).post(path, content=body, headers=signed(body))
    assert r.status_code == 500  # never "malformed": the sender did nothing wrong and will send it again
    assert "a bug of ours" in caplog.text
    assert stored(rt) == (0, 0)
    for _ in range(2):  # the sender's retry is taken, once
        assert TestClient(rt.app).post(path, content=body, headers=signed(body)).status_code == 200
    assert stored(rt) == (1, 1)


@pytest.mark.parametrize(("tolerance", "age", "status"), [(60, 120, 401), (60, 30, 200), (600, 500, 200)])
def test_slacks_signature_age_follows_the_configured_tolerance(
    tmp_path: Path, tolerance: int, age: int, status: int
) -> None:
    rt = make_runtime(tmp_path, CASEROOM_WEBHOOK_TOLERANCE_SECONDS=tolerance)
    try:
        body = json.dumps(slack_event()).encode()
        headers = slack_signed(body, at=NOW.timestamp() - age)
        assert TestClient(rt.app).post("/slack/events", content=body, headers=headers).status_code == status
        assert stored(rt) == ((1, 1) if status == 200 else (0, 0))
    finally:
        rt.stop()


@pytest.fixture
def w(tmp_path: Path) -> Iterator[SlackWorld]:
    with slack_world(tmp_path) as world:
        world.opened()
        yield world


def post_again(w: SlackWorld, times: int) -> list[httpx.Response]:
    """The slash command Slack last sent, byte for byte with its signature, posted again by someone else."""
    sent = [d for d in w.emu.deliveries() if d["kind"] == "command"][-1]
    return [httpx.post(sent["url"], content=sent["raw"].encode(), headers=sent["headers"], timeout=10)
            for _ in range(times)]  # fmt: skip


def entries(w: SlackWorld, kind: timeline.Kind) -> list[str]:
    with w.rt.db.session() as s:
        return [e.text for e in timeline.events(s, 1, kinds={kind})]


@pytest.mark.parametrize("how", ["through a job", "answered at once"])
def test_a_signed_slash_command_posted_again_runs_once(w: SlackWorld, how: str) -> None:
    channel = str(w.channel()["id"])
    text = "note the replay must not run twice" if how == "through a job" else "status"
    assert w.emu.command(ENGINEER, channel, text)["status"] == 200
    w.settle(lambda: bool(entries(w, timeline.Kind.COMMAND)))
    replays = post_again(w, 3)
    assert [r.status_code for r in replays] == [200] * 3
    assert all(not r.content or r.json().get("text") is None for r in replays)  # no second answer either
    w.settle()
    assert entries(w, timeline.Kind.COMMAND) == [f"/case {text}"]
    if how == "through a job":
        assert entries(w, timeline.Kind.NOTE) == ["the replay must not run twice"]
        assert sum("replay must not" in str(c) for c in w.state.calls("crm.add_comment")) == 1
    # Typed again, it is a new request (Slack gives it a new trigger_id) and runs again.
    assert w.emu.command(ENGINEER, channel, text)["status"] == 200
    w.settle(lambda: len(entries(w, timeline.Kind.COMMAND)) == 2)
