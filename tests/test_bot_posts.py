"""The bot's own posts are on the record once, from the moment it posts them.

Its own words (the welcome, a command's public answer, the closing notice) are entries of their own, spoken by
CaseRoom; its announcements of a join, an invitation or an upload are shown once, as those facts. Closure's export
reads every one of them back from the room's history and adds none again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tests.slack_world import CUSTOMER as SLACK_CUSTOMER
from tests.slack_world import ENGINEER as SLACK_ENGINEER
from tests.slack_world import slack_world
from tests.test_command_entries import close_slack, filed_entries
from tests.test_exact_record import CLOSE, closed, opened, upload
from tests.test_mentions_with_files import DUMP
from tests.test_webex_adapter import CUSTOMER, ENGINEER
from tests.webex_world import webex_world

COLLEAGUE = "erin@customer.example"
ITS_OWN_WORDS = ("Welcome to the room of case 00001234", "invited erin@customer.example;", "Case 00001234 is closed.")


def told(texts: list[str]) -> bool:
    """The room has heard of the upload and of Erin's arrival."""
    return all(any(news in t for t in texts) for news in ("uploaded router-dump.zip", "erin joined"))


def by_the_bot(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["kind"], e["text"]) for e in entries if (e["actor"] or {}).get("name") == "CaseRoom"]


def assert_each_post_once(entries: list[dict[str, Any]], bot_posted: list[str]) -> None:
    # The bot spoke in its own words three times, each one entry of the record (before: once more each, exported).
    own = [t for t in bot_posted if any(w in t for w in ITS_OWN_WORDS)]
    assert len(own) == 3, bot_posted
    assert by_the_bot(entries) == [("bot", t) for t in own]
    # Its announcements are the facts they announce, once each: no entry is a second copy of another.
    assert not [t for t, n in Counter(e["text"] for e in entries).items() if n > 1]
    assert [e["text"] for e in entries if e["kind"] == "join" and "erin" in e["text"]] == ["erin joined the room"]
    assert [e["kind"] for e in entries if "router-dump.zip" in e["text"]] == ["file"]


def test_webex_each_post_of_the_bot_is_one_entry(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        room_id = opened(w)
        w.act("act/message", as_email=ENGINEER, room_id=room_id, text=f"/case invite {COLLEAGUE}")
        upload(w, room_id, "router-dump.zip", "here are the logs")
        w.settle(lambda: told(w.texts(room_id)))
        w.settle()
        w.deliver(**CLOSE)
        w.settle(lambda: closed(w), timeout=30)
        bot_posted = [m["text"] for m in w.messages(room_id) if m["personEmail"] == "caseroom@webex.bot"]
        assert_each_post_once(filed_entries(w.state.calls("crm.attach_file")), bot_posted)
        assert CUSTOMER in str(bot_posted)  # the customer's invitation was announced, and is one entry too


def test_slack_each_post_of_the_bot_is_one_entry(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        cid = w.opened_with_customer()
        assert w.emu.command(SLACK_ENGINEER, cid, f"invite {COLLEAGUE}")["status"] == 200
        w.settle(lambda: any(i["email"] == COLLEAGUE for i in w.channel_by_id(cid)["pending_invites"]))
        w.emu.accept_invite(email=COLLEAGUE)
        w.emu.act_message(SLACK_CUSTOMER, cid, "here are the logs", file=DUMP)
        w.settle(lambda: told(w.texts(cid)))
        w.settle()
        entries = close_slack(w, cid)
        bot_posted = [m["text"] for m in w.messages(cid) if m.get("bot_id")]
        assert_each_post_once(entries, bot_posted)
