"""The filed record of a whole case, lived through each platform's emulator, against a golden file.

One case per platform holds everything the record must keep: the welcome, invitations and joins, messages and a
thread, a message edited and one deleted, commands typed as messages and as slash commands, a note, uploads (one
with text, one in a thread), an owner change with its handoff, and closure. The filed JSON transcript is drawn one
line per entry (its kind, who, what, files, thread and marks) so the golden file reads like the room did; every item
must be there exactly once. Regenerate with ``CASEROOM_UPDATE_GOLDEN=1`` and read the diff before committing it.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.slack_world import CUSTOMER, ENGINEER, slack_world
from tests.test_command_entries import close_slack, filed_entries
from tests.test_exact_record import CLOSE, closed, deferred, opened
from tests.test_mentions_with_files import DUMP
from tests.test_transcripts import golden
from tests.webex_world import webex_world

KENJI = "kenji@support.example"
CHANGES = ("message_edited", "message_deleted")
# One job and one platform call at a time: the opening's invitations, sent together in production, come out in
# one order, so the golden file does not depend on which finished first.
ONE_AT_A_TIME: dict[str, Any] = {"workers": 1, "CASEROOM_PARALLEL_CALLS": 1}


def now() -> str:
    """When the CRM says a change happened: now, as the room's own events are stamped by the platform's clock."""
    return datetime.now(UTC).isoformat()


def drawn(entries: list[dict[str, Any]], ids: dict[str, str]) -> str:
    """One line per entry: ``seq kind [who] text {files} (reply to #n) (edited) (deleted)``.

    Platform ids in the text (channel, user, message) are replaced by names from ``ids``; times are left out, as
    the order of the lines already tells when.
    """
    seq_of = {e["message_id"]: e["seq"] for e in entries if e["message_id"] and e["kind"] not in CHANGES}
    lines = []
    for e in entries:
        who = (e["actor"] or {}).get("email") or (e["actor"] or {}).get("name") or "-"
        text = e["text"] or ""
        for raw, name in ids.items():
            text = text.replace(raw, name)
        line = f"{e['seq']:>2} {e['kind']:<15} [{who}] {text!r}"
        if e["files"]:
            line += f" files={e['files']}"
        if e["parent_id"]:
            line += f" (reply to #{seq_of.get(e['parent_id'], '?')})"
        if e["kind"] in CHANGES:
            line += f" (of #{seq_of.get(e['message_id'], '?')})"
        if e["edited_at"]:
            line += " (edited)"
        if e["deleted"]:
            line += " (deleted)"
        lines.append(line)
    return "\n".join(lines) + "\n"


def assert_each_item_once(entries: list[dict[str, Any]]) -> None:
    """No message is on the record twice, and no announcement repeats another entry."""
    ids = Counter(e["message_id"] for e in entries if e["message_id"] and e["kind"] not in CHANGES)
    assert not [m for m, n in ids.items() if n > 1], entries
    assert not [t for t, n in Counter((e["kind"], e["text"]) for e in entries).items() if n > 1], entries


def test_slack_a_whole_case_is_filed_as_the_golden_record(tmp_path: Path) -> None:
    with slack_world(tmp_path, **ONE_AT_A_TIME) as w:
        cid = w.opened_with_customer()
        bot = w.emu.bot_user_id

        first = w.emu.act_message(CUSTOMER, cid, "Hi, the VPN drops every hour")
        w.settle()
        ask = w.emu.act_message(ENGINEER, cid, "Which client version?", thread_ts=first["ts"])
        w.settle()
        log = {"name": "vpn.log", "mime": "text/plain", "content_b64": base64.b64encode(b"drop\n" * 40).decode()}
        w.emu.act_message(CUSTOMER, cid, "4.10, log attached", thread_ts=first["ts"], file=log)
        w.settle(lambda: any("uploaded vpn.log" in t for t in w.texts(cid)))
        w.settle()
        w.act("act/edit", as_email=CUSTOMER, channel_id=cid, ts=first["ts"],
              text="Hi, the VPN drops every hour, since Monday")  # fmt: skip
        w.settle()
        oops = w.emu.act_message(CUSTOMER, cid, "wrong room, sorry")
        w.settle()
        w.act("act/delete", as_email=CUSTOMER, channel_id=cid, ts=oops["ts"])
        w.settle()
        w.emu.command(ENGINEER, cid, "note Suspect the MTU on the tunnel")
        w.settle()
        w.emu.act_message(CUSTOMER, cid, f"<@{bot}> here is the router dump", file=DUMP)
        w.settle(lambda: any("uploaded router-dump.zip" in t for t in w.texts(cid)))
        w.settle()
        w.emu.act_message(ENGINEER, cid, f"<@{bot}> files")
        w.settle()

        assert w.deliver(event_id="evt_rotate", type_="case.updated", engineer=KENJI, occurred_at=now()).is_success
        w.settle(lambda: any("Kenji" in t and "joined" in t for t in w.texts(cid)))
        w.settle()
        w.emu.act_message(KENJI, cid, "Taking over: please try MTU 1400", thread_ts=ask["ts"])
        w.settle()

        entries = close_slack(w, cid, occurred_at=now())
        assert_each_item_once(entries)
        names = {cid: "<channel>", bot: "<bot>"}
        names.update({u.id: f"<{u.email}>" for u in w.emu.store.users.values() if u.email})
        golden("slack_case.txt", drawn(entries, names))
        # The filed files are those of the room, each once.
        assert sorted(c["name"] for c in w.state.calls("crm.attach_file") if not re.search(r"transcript", c["name"])) \
            == ["router-dump.zip", "vpn.log"]


def test_webex_a_whole_case_is_filed_as_the_golden_record(tmp_path: Path) -> None:
    """As the Slack case, with Webex's own turns: an upload held by the malware scan, edits and deletions arriving
    as ``messages:updated``/``deleted`` notices that carry no text, and commands typed as messages."""
    with webex_world(tmp_path, **ONE_AT_A_TIME) as w:
        room_id = opened(w)

        def say(who: str, text: str, **more: Any) -> dict[str, Any]:
            msg = w.act("act/message", as_email=who, room_id=room_id, text=text, **more)
            w.settle()
            return msg

        first = say(CUSTOMER, "Hi, the VPN drops every hour")
        say(ENGINEER, "Which client version?", parent_id=first["id"])
        log = {"name": "vpn.log", "mime": "text/plain", "content_b64": base64.b64encode(b"drop\n" * 40).decode(),
               "scan": "scanning"}  # fmt: skip
        held = w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="4.10, log attached",
                     parent_id=first["id"], file=log)  # fmt: skip
        # Webex scans the file: the upload waits for it, announced and filed once the scan is done, not before.
        w.settle(lambda: deferred(w, "webex.notification") > 0, idle=False)
        assert not [t for t in w.texts(room_id) if "uploaded" in t]
        content_id = str(held["files"][0]).rsplit("/", 1)[-1]
        httpx.post(f"{w.emu_url}/_sandbox/files/{content_id}/scan", json={"state": "clean"}).raise_for_status()
        w.settle(lambda: any("uploaded vpn.log" in t for t in w.texts(room_id)), timeout=30)
        w.settle()
        w.act("act/edit", as_email=CUSTOMER, message_id=first["id"], text="Hi, the VPN drops every hour, since Monday")
        w.settle()
        oops = say(CUSTOMER, "wrong room, sorry")
        w.act("act/delete", as_email=CUSTOMER, message_id=oops["id"])
        w.settle()
        say(ENGINEER, "/case note Suspect the MTU on the tunnel")
        say(CUSTOMER, "here is the router dump", mention_bot=True, file=DUMP)
        w.settle(lambda: any("uploaded router-dump.zip" in t for t in w.texts(room_id)))
        say(ENGINEER, "files", mention_bot=True)

        assert w.deliver(event_id="evt_rotate", type_="case.updated", engineer=KENJI, occurred_at=now()).is_success
        w.settle(lambda: any("Kenji" in t for t in w.texts(room_id)))
        w.settle()
        say(KENJI, "Taking over: please try MTU 1400", parent_id=first["id"])

        assert w.deliver(**(CLOSE | {"occurred_at": now()})).is_success
        w.settle(lambda: closed(w), timeout=30)
        entries = filed_entries(w.state.calls("crm.attach_file"))
        assert_each_item_once(entries)
        golden("webex_case.txt", drawn(entries, {room_id: "<room>"}))
        assert sorted(c["name"] for c in w.state.calls("crm.attach_file") if not re.search(r"transcript", c["name"])) \
            == ["router-dump.zip", "vpn.log"]
