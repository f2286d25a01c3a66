"""A message is a message first: mentioning the bot makes a command only when a command follows, and a message's
files are announced, recorded and filed whatever its text, on Webex and on Slack."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.slack_world import CUSTOMER as SLACK_CUSTOMER
from tests.slack_world import slack_world
from tests.test_exact_record import opened
from tests.test_room_commands_slack import private_to
from tests.test_webex_adapter import CUSTOMER, direct_messages
from tests.webex_world import webex_world

DUMP = {"name": "router-dump.zip", "mime": "application/zip", "content_b64": base64.b64encode(b"z" * 2048).decode()}


def test_webex_a_mention_with_logs_is_an_upload_not_an_unknown_command(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        room_id = opened(w)
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="here are the logs", mention_bot=True, file=DUMP)
        w.settle(lambda: any(c["name"] == "router-dump.zip" for c in w.state.calls("crm.attach_file")))
        w.settle()
        assert [t for t in w.texts(room_id) if "uploaded" in t] == ["carol uploaded router-dump.zip (2.0 KB)"]
        assert not direct_messages(w).get(CUSTOMER), "a message with files is no unknown command"


def test_webex_a_command_carrying_a_file_runs_and_the_file_is_announced(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        room_id = opened(w)
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="status", mention_bot=True, file=DUMP)
        w.settle(lambda: bool(direct_messages(w).get(CUSTOMER))
                 and any(c["name"] == "router-dump.zip" for c in w.state.calls("crm.attach_file")))  # fmt: skip
        w.settle()
        assert any("Case 00001234" in t for t in direct_messages(w)[CUSTOMER])
        assert [t for t in w.texts(room_id) if "uploaded" in t] == ["carol uploaded router-dump.zip (2.0 KB)"]


def test_slack_a_mention_with_logs_is_an_upload_and_a_mentioned_command_still_runs(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w:
        cid = w.opened_with_customer()
        bot = w.emu.bot_user_id
        w.emu.act_message(SLACK_CUSTOMER, cid, f"<@{bot}> here are the logs", file=DUMP)
        w.settle(lambda: any(c["name"] == "router-dump.zip" for c in w.state.calls("crm.attach_file")))
        w.emu.act_message(SLACK_CUSTOMER, cid, f"<@{bot}> status")
        w.settle(lambda: any("Case 00001234" in t for t in private_to(w, SLACK_CUSTOMER)))
        w.settle()
        assert [t for t in w.texts(cid) if "uploaded" in t] == ["carol uploaded router-dump.zip (2.0 KB)"]
        assert not [t for t in private_to(w, SLACK_CUSTOMER) if "Unknown command" in t]
