"""Slack's rules the adapter must keep: escaping, channel names, and an app manifest that matches the code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.models import Delivery
from bot.runtime import Runtime
from integrations.slack.plugin import plugin as slack_plugin
from integrations.slack.receiver import KEPT_SUBTYPES
from integrations.slack.text import channel_name, escape, readable, unescape
from tests.slack_world import SIGNING_SECRET, slack_signed
from tests.support import settings

MANIFEST = Path(__file__).resolve().parent.parent / "manifest" / "slack-app.yml"


def test_mentions_and_links_in_untrusted_text_are_neutralised() -> None:
    assert escape("<!channel> & <@U123> <https://evil.example|click>") == (
        "&lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://evil.example|click&gt;"
    )
    assert escape("&lt;") == "&amp;lt;"  # escaping & first means an already-escaped string cannot sneak through


def test_the_record_reads_slack_markup_as_people_see_it() -> None:
    names = {"U1": "Ada Lovelace"}
    said = "<@U1> see <#C9|ops> &amp; <https://kb.example/42|KB 42>, <!here> <@U2|bob> <mailto:a@x.example|a@x.example>"
    assert readable(said, lambda uid: names.get(uid, "")) == (
        "@Ada Lovelace see #ops & KB 42 (https://kb.example/42), @here @bob a@x.example"
    )


@given(st.text())
def test_escaped_text_never_contains_a_control_character_and_round_trips(text: str) -> None:
    safe = escape(text)
    assert "<" not in safe and ">" not in safe
    assert unescape(safe) == text


def test_channel_names_follow_slacks_rules_and_suffixes_are_deterministic() -> None:
    assert channel_name("case-{number}", "00001234") == "case-00001234"
    assert channel_name("Case {number} ÜBER", "AB/12") == "case-ab-12-ber"
    assert channel_name("case-{number}", "00001234", attempt=3) == "case-00001234-3"
    long = channel_name("case-{number}", "9" * 100, attempt=12)
    assert len(long) == 80 and long.endswith("-12")


@given(st.text(min_size=1, max_size=120), st.integers(min_value=1, max_value=20))
def test_any_case_number_gives_a_valid_channel_name(number: str, attempt: int) -> None:
    name = channel_name("case-{number}", number, attempt)
    assert 0 < len(name) <= 80
    assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789-_" for c in name)


# Event types Slack documents that a case-room app could plausibly want; the receiver is asked about each.
CANDIDATE_EVENTS = ["member_joined_channel", "member_left_channel", "file_shared", "file_created", "file_deleted",
                    "message.channels", "message.groups", "message.im", "message.mpim", "app_mention",
                    "reaction_added", "channel_archive", "channel_rename", "team_join", "user_change"]  # fmt: skip


def event_callback(subscription: str, n: int) -> bytes:
    """An Events API envelope for a subscription name (``message.groups`` is a message in a private channel)."""
    kind, _, where = subscription.partition(".")
    event: dict[str, object] = {"type": kind, "user": "U0CAROL", "channel": "C0CASE", "event_ts": f"1.{n}"}
    if kind == "message":
        event |= {"text": "hello", "ts": f"1.{n}", "channel_type": {"channels": "channel", "groups": "group",
                                                                     "im": "im", "mpim": "mpim"}[where]}  # fmt: skip
    if kind.startswith("file_"):
        event |= {"file_id": "F0DOC", "file": {"id": "F0DOC"}, "channel_id": "C0CASE", "user_id": "U0CAROL"}
    envelope = {"token": "x", "team_id": "T0TEAM", "api_app_id": "A0APP", "type": "event_callback",
                "event_id": f"Ev{n:08d}", "event_time": 1, "event": event}  # fmt: skip
    return json.dumps(envelope).encode()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    """The Slack plugin's real Bolt receiver; nothing is processed (no workers), only received and stored."""
    config = settings(f"sqlite:///{tmp_path / 'caseroom.db'}", SLACK_API_URL="http://127.0.0.1:9/api/",
                      SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SIGNING_SECRET)  # fmt: skip
    rt = Runtime(config, plugins=[slack_plugin])
    try:
        yield TestClient(rt.app), rt
    finally:
        rt.stop()


def test_the_manifest_subscribes_to_exactly_the_events_the_receiver_keeps(
    receiver: tuple[TestClient, Runtime],
) -> None:
    client, rt = receiver
    subscribed = set(yaml.safe_load(MANIFEST.read_text())["settings"]["event_subscriptions"]["bot_events"])
    answers, kept = {}, set()
    for n, name in enumerate(CANDIDATE_EVENTS + sorted(subscribed - set(CANDIDATE_EVENTS))):
        before = stored(rt)
        body = event_callback(name, n)
        answers[name] = client.post("/slack/events", content=body, headers=slack_signed(body))
        if stored(rt) > before:
            kept.add(name)
    # Bolt answers 404 to an event no listener matches, and Slack retries it: every subscription has one.
    assert {name: answers[name].status_code for name in subscribed} == dict.fromkeys(subscribed, 200)
    assert answers["reaction_added"].status_code == 404  # the check above can fail
    # Every event type the receiver keeps for the room is subscribed (or it would never arrive). Messages are
    # one type whatever the conversation; the manifest picks which conversations' messages Slack sends.
    kinds = {name.partition(".")[0] for name in kept}
    assert kinds and kinds <= {name.partition(".")[0] for name in subscribed}, kinds
    assert {"member_joined_channel", "member_left_channel", "message.channels", "message.groups"} <= kept
    command = urlencode({"command": "/case", "text": "help", "channel_id": "C0CASE", "user_id": "U0CAROL",
                         "trigger_id": "1.2.3", "response_url": "http://127.0.0.1:9/r"}).encode()  # fmt: skip
    manifest_commands = {c["command"] for c in yaml.safe_load(MANIFEST.read_text())["features"]["slash_commands"]}
    assert manifest_commands == {"/case"}
    headers = slack_signed(command, content_type="application/x-www-form-urlencoded")
    assert client.post("/slack/events", content=command, headers=headers).status_code == 200


def stored(rt: Runtime) -> int:
    with rt.db.session() as s:
        return int(s.execute(select(func.count()).select_from(Delivery)).scalar_one())


def test_the_manifest_asks_for_the_reference_scopes_and_points_every_url_at_the_receiver() -> None:
    m = yaml.safe_load(MANIFEST.read_text())
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    for needed in ("channels:manage", "groups:write", "chat:write", "commands", "users:read.email",
                   "conversations.connect:write", "bookmarks:write", "files:read", "channels:history"):  # fmt: skip
        assert needed in scopes
    urls = {m["settings"]["event_subscriptions"]["request_url"], m["settings"]["interactivity"]["request_url"]}
    urls |= {c["url"] for c in m["features"]["slash_commands"]}
    assert urls == {"https://caseroom.example.com/slack/events"}
    assert "channel_join" not in KEPT_SUBTYPES  # joins are taken from member_joined_channel, once
