"""A Slack upload is told by ``file_shared`` and by the ``message`` holding the file: one entry, one announcement."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from caseroom_sandbox.slack import SUBSCRIPTIONS

from tests.slack_world import CUSTOMER, SlackWorld, slack_world

DUMP = {"name": "router-dump.zip", "mime": "application/zip", "content_b64": base64.b64encode(b"z" * 2048).decode()}


def upload_and_close(w: SlackWorld) -> tuple[list[str], list[dict[str, Any]]]:
    """Carol uploads the dump with a line of text, the case closes: the room's announcements and the filed record."""
    cid = w.opened_with_customer()
    w.emu.act_message(CUSTOMER, cid, "here are the logs", file=DUMP)
    w.settle(lambda: any(c["name"] == "router-dump.zip" for c in w.state.calls("crm.attach_file")))
    w.settle()
    announced = [t for t in w.texts(cid) if "uploaded" in t]
    assert w.deliver(event_id="evt_close", type_="case.closed", status="Closed").status_code == 200
    w.settle(lambda: w.channel_by_id(cid)["is_archived"])
    w.settle()
    [transcript] = [c for c in w.state.calls("crm.attach_file") if c["name"].endswith("transcript.json")]
    return announced, json.loads(transcript["text"])["entries"]


def about_the_dump(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every entry about the upload, whoever's: the bot's announcement of it is no entry of its own."""
    return [e for e in entries if "router-dump" in e["text"] or "here are the logs" in e["text"]]


@pytest.mark.parametrize("told_by", ["file_shared alone", "file_shared and message"])
def test_an_upload_is_announced_filed_and_exported_as_one_entry(tmp_path: Path, told_by: str) -> None:
    with slack_world(tmp_path) as w:
        if told_by == "file_shared alone":
            w.emu.subscriptions = set(SUBSCRIPTIONS) - {"message"}
        announced, entries = upload_and_close(w)
        assert announced == ["carol uploaded router-dump.zip (2.0 KB)"]
        assert [c["name"] for c in w.state.calls("crm.attach_file")].count("router-dump.zip") == 1
        # Live capture and closure's export meet on the message: its file and its text are one entry.
        [entry] = about_the_dump(entries)
        assert entry["kind"] == "file"
        assert entry["text"] == "carol uploaded router-dump.zip (2.0 KB): here are the logs"
