"""A command typed in the room is one entry of the record, shown as a command, with the files its message carried.

Live capture runs the command, the message's files are announced, and closure exports the room's messages again:
all of them meet on the platform's message id, on Webex and on Slack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.slack_world import CUSTOMER as SLACK_CUSTOMER
from tests.slack_world import SlackWorld, slack_world
from tests.test_exact_record import CLOSE, closed, opened
from tests.test_mentions_with_files import DUMP
from tests.test_room_commands_slack import private_to
from tests.test_webex_adapter import CUSTOMER, direct_messages
from tests.webex_world import webex_world


def filed_entries(attached: list[dict[str, Any]]) -> list[dict[str, Any]]:
    [doc] = [c["text"] for c in attached if c["name"].endswith("transcript.json")]
    entries: list[dict[str, Any]] = json.loads(doc)["entries"]
    return entries


def about_status(entries: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """Every entry that tells of the two ``status`` commands: (kind, text, files)."""
    return [(e["kind"], e["text"], e["files"]) for e in entries if "status" in e["text"]]


ONE_ENTRY_EACH = [
    ("command", "/case status", []),
    ("command", "/case status", ["router-dump.zip"]),
]


def test_webex_each_command_is_one_entry_after_closure(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        room_id = opened(w)
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="/case status")
        w.settle(lambda: len(direct_messages(w).get(CUSTOMER, [])) == 1)
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="status", mention_bot=True, file=DUMP)
        w.settle(lambda: len(direct_messages(w).get(CUSTOMER, [])) == 2
                 and any(c["name"] == "router-dump.zip" for c in w.state.calls("crm.attach_file")))  # fmt: skip
        w.settle()
        w.deliver(**CLOSE)
        w.settle(lambda: closed(w), timeout=30)
        entries = filed_entries(w.state.calls("crm.attach_file"))
        assert about_status(entries) == ONE_ENTRY_EACH
        assert [t for t in w.texts(room_id) if "uploaded" in t] == ["carol uploaded router-dump.zip (2.0 KB)"]


def close_slack(w: SlackWorld, cid: str, **event: Any) -> list[dict[str, Any]]:
    assert w.deliver(event_id="evt_close", type_="case.closed", status="Closed", **event).status_code == 200
    w.settle(lambda: w.channel_by_id(cid)["is_archived"])
    w.settle()
    return filed_entries(w.state.calls("crm.attach_file"))


def test_slack_each_mentioned_command_is_one_entry_after_closure(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        cid = w.opened_with_customer()
        bot = w.emu.bot_user_id
        w.emu.act_message(SLACK_CUSTOMER, cid, f"<@{bot}> status")
        w.settle(lambda: len([t for t in private_to(w, SLACK_CUSTOMER) if "Case 00001234" in t]) == 1)
        w.emu.act_message(SLACK_CUSTOMER, cid, f"<@{bot}> status", file=DUMP)
        w.settle(lambda: len([t for t in private_to(w, SLACK_CUSTOMER) if "Case 00001234" in t]) == 2
                 and any(c["name"] == "router-dump.zip" for c in w.state.calls("crm.attach_file")))  # fmt: skip
        w.settle()
        entries = close_slack(w, cid)
        assert about_status(entries) == ONE_ENTRY_EACH
        assert [t for t in w.texts(cid) if "uploaded" in t] == ["carol uploaded router-dump.zip (2.0 KB)"]
