"""Slack's rules the adapter must keep: escaping, channel names, and an app manifest that matches the code."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from integrations.slack.receiver import IGNORED_SUBTYPES
from integrations.slack.text import channel_name, escape, unescape

MANIFEST = Path(__file__).resolve().parent.parent / "manifest" / "slack-app.yml"


def test_mentions_and_links_in_untrusted_text_are_neutralised() -> None:
    assert escape("<!channel> & <@U123> <https://evil.example|click>") == (
        "&lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://evil.example|click&gt;"
    )
    assert escape("&lt;") == "&amp;lt;"  # escaping & first means an already-escaped string cannot sneak through


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


def test_the_manifest_subscribes_to_what_the_receiver_listens_for_with_the_reference_scopes() -> None:
    m = yaml.safe_load(MANIFEST.read_text())
    events = set(m["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"member_joined_channel", "member_left_channel", "file_shared", "message.channels",
                      "message.groups"}  # fmt: skip
    assert {c["command"] for c in m["features"]["slash_commands"]} == {"/case"}
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    for needed in ("channels:manage", "groups:write", "chat:write", "commands", "users:read.email",
                   "conversations.connect:write", "bookmarks:write", "files:read", "channels:history"):  # fmt: skip
        assert needed in scopes
    urls = {m["settings"]["event_subscriptions"]["request_url"], m["settings"]["interactivity"]["request_url"]}
    urls |= {c["url"] for c in m["features"]["slash_commands"]}
    assert urls == {"https://caseroom.example.com/slack/events"}
    assert "channel_join" in IGNORED_SUBTYPES  # joins are taken from member_joined_channel, once
