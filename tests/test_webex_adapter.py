"""Webex end to end: CRM webhook in, the real webexpythonsdk against the Webex emulator, webhooks back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.models import JobStatus
from tests.webex_world import WEBHOOK_SECRET, webex_world

CUSTOMER, ENGINEER = "carol@customer.example", "ada@support.example"


def members(room: dict[str, object]) -> set[str]:
    return {m["email"] for m in room["members"]}  # type: ignore[union-attr,index]


def test_an_opened_case_gets_one_locked_space_its_people_and_its_url(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        for _ in range(3):  # the CRM retries: still one space
            assert w.deliver().status_code == 200
        w.settle(lambda: any(r["title"].startswith("Case 00001234") for r in w.emu.snapshot()["rooms"]))
        w.settle()
        room = w.room()
        assert room["title"] == "Case 00001234: VPN drops every hour"
        assert room["isLocked"] is True
        assert members(room) == {"caseroom@webex.bot", "observer@sandbox.example", CUSTOMER, ENGINEER}
        assert [c["url"] for c in w.state.calls("crm.write_room_url")] == ["https://caseroom.example/rooms/00001234"]
        link = httpx.get(f"{w.url}/rooms/00001234").headers.get("location", "")
        assert link.startswith("webexteams://im?space=")
        welcome = [t for t in w.texts(room["id"]) if t.startswith("Welcome")]
        assert len(welcome) == 1


def test_joins_leaves_and_uploads_are_announced_once_and_files_go_to_the_crm(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        w.deliver()
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        room_id = w.room()["id"]
        w.act("act/join", email="kenji@support.example", room_id=room_id)
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="here is the capture",
              file={"name": "report.pcap", "mime": "application/vnd.tcpdump.pcap",
                    "content_b64": base64.b64encode(b"\xd4\xc3\xb2\xa1" * 1000).decode()})
        w.act("act/leave", email="kenji@support.example", room_id=room_id)
        w.settle(lambda: bool(w.state.calls("crm.attach_file")))
        texts = w.texts(room_id)
        assert texts.count("Kenji Sato joined the room") == 1
        assert texts.count("Kenji Sato left the room") == 1
        assert sum("uploaded report.pcap (4.0 KB)" in t for t in texts) == 1
        [filed] = w.state.calls("crm.attach_file")
        assert (filed["name"], filed["size"]) == ("report.pcap", 4000)

        # Webex redelivers a notification: the same signed body again changes nothing.
        delivered = [d for d in w.emu.deliveries() if d.get("resource") == "memberships"]
        assert delivered
        before = len(w.texts(room_id))
        for d in delivered:
            body = d["body"].encode() if isinstance(d["body"], str) else json.dumps(d["body"]).encode()
            sig = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha1).hexdigest()
            r = httpx.post(f"{w.url}/webhooks/webex", content=body, headers={"X-Spark-Signature": sig})
            assert r.status_code == 200
        w.settle()
        assert len(w.texts(room_id)) == before


def test_a_forged_notification_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        body = json.dumps({"resource": "memberships", "event": "created",
                           "data": {"id": "m1", "roomId": "r1", "personEmail": "x@evil.example"}}).encode()
        for sig in ("", "0" * 40, hmac.new(b"wrong", body, hashlib.sha1).hexdigest()):
            r = httpx.post(f"{w.url}/webhooks/webex", content=body, headers={"X-Spark-Signature": sig})
            assert r.status_code == 401
        assert w.rt.queue.counts() == {}


def test_each_edit_notice_is_one_delivery_even_without_its_time(tmp_path: Path) -> None:
    """A retried notice is a duplicate; another edit of the same message, or another webhook's notice, is not."""
    with webex_world(tmp_path) as w:

        def notify(hook: str, **data: str) -> bool:
            body = json.dumps({"id": hook, "resource": "messages", "event": "updated",
                               "data": {"id": "msg1", "roomId": "r1", **data}}).encode()  # fmt: skip
            sig = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha1).hexdigest()
            r = httpx.post(f"{w.url}/webhooks/webex", content=body, headers={"X-Spark-Signature": sig})
            assert r.status_code == 200, r.text
            return not r.json()["duplicate"]

        assert notify("bot-hook", updated="2026-12-01T10:00:00.000Z")
        assert not notify("observer-hook", updated="2026-12-01T10:00:00.000Z")  # the same edit, heard twice
        assert notify("bot-hook", updated="2026-12-01T10:05:00.000Z")  # the next edit
        assert notify("bot-hook") and not notify("bot-hook")  # no time given: the body tells a retry
        assert notify("observer-hook")


def test_mentioning_the_bot_runs_a_command_and_answers_privately(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        w.deliver()
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        room_id = w.room()["id"]
        w.act("act/message", as_email=ENGINEER, room_id=room_id, text="help", mention_bot=True)
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="/case status")
        w.settle(lambda: len(direct_messages(w)) >= 2)
        answers = direct_messages(w)
        assert any("/case help [command]" in t for t in answers.get(ENGINEER, []))
        assert any("Case 00001234: VPN drops every hour" in t for t in answers.get(CUSTOMER, []))


def direct_messages(w: object) -> dict[str, list[str]]:
    """Texts the bot sent in 1:1 spaces, by the other person's e-mail."""
    snapshot = w.emu.snapshot()  # type: ignore[attr-defined]
    out: dict[str, list[str]] = {}
    for room in snapshot["rooms"]:
        if room.get("type") != "direct":
            continue
        other = [m["email"] for m in room["members"] if m["email"] != "caseroom@webex.bot"]
        texts = [m.get("text") or "" for m in w.messages(room["id"])]  # type: ignore[attr-defined]
        if other:
            out.setdefault(other[0], []).extend(texts)
    return out


def test_without_an_observer_the_bot_says_what_it_cannot_see(tmp_path: Path) -> None:
    with webex_world(tmp_path, observer=False) as w:
        w.deliver()
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        room_id = w.room()["id"]
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="not addressed to the bot")
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="status", mention_bot=True)
        w.settle(lambda: bool(direct_messages(w).get(CUSTOMER)))
        status = direct_messages(w)[CUSTOMER][-1]
        assert "sees only the messages that mention it" in status
        w.deliver(event_id="evt_close", type_="case.closed", occurred_at="2026-11-23T09:00:00Z", status="Closed")
        w.settle(lambda: any(c["name"].endswith(".html") for c in w.state.calls("crm.attach_file")))
        html = next(c["text"] for c in w.state.calls("crm.attach_file") if c["name"].endswith(".html"))
        assert "sees only the messages that mention it" in html
        assert "not addressed to the bot" not in html


def test_closing_exports_everything_then_empties_and_locks_the_space(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        w.deliver()
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        room_id = w.room()["id"]
        first = w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="the tunnel drops at 14:00")
        w.act("act/message", as_email=ENGINEER, room_id=room_id, text="checking the DPD timers", parent_id=first["id"])
        w.deliver(event_id="evt_close", type_="case.closed", occurred_at="2026-11-23T09:00:00Z", status="Closed")
        w.settle(lambda: w.rt.queue.counts().get(JobStatus.DONE, 0) > 0 and w.room()["isLocked"]
                 and members(w.room()) == {"caseroom@webex.bot"}, timeout=30)  # fmt: skip
        room = w.room()
        assert members(room) == {"caseroom@webex.bot"}
        assert room.get("isAnnouncementOnly") is True
        from bot import timeline

        with w.rt.db.session() as s:
            texts = [e.text for e in timeline.events(s, 1)]
        assert "the tunnel drops at 14:00" in texts and "checking the DPD timers" in texts
        names = [c["name"] for c in w.state.calls("crm.attach_file")]
        assert "case-00001234-transcript.html" in names and "case-00001234-transcript.json" in names


@pytest.mark.slow
def test_a_429_storm_slows_cases_down_but_every_one_completes(tmp_path: Path) -> None:
    with webex_world(tmp_path, workers=2) as w:
        httpx.post(f"{w.emu_url}/_sandbox/knobs", json={"rate_limit_rate": 0.25, "seed": 3}).raise_for_status()
        for n in range(3):
            w.deliver(event_id=f"evt_{n}", number=f"0000500{n}")
        w.settle(lambda: len(w.state.calls("crm.write_room_url")) == 3, timeout=60)
        rooms = [r for r in w.emu.snapshot()["rooms"] if r["title"].startswith("Case 0000500")]
        assert len(rooms) == 3
        assert all(members(r) >= {CUSTOMER, ENGINEER} for r in rooms)
        attempts = [j.attempts for j in w.rt.queue.list()]
        assert max(attempts) > 1  # the storm was felt and retried, not slept through


def test_a_long_retry_after_does_not_hold_up_other_cases(tmp_path: Path) -> None:
    with webex_world(tmp_path, workers=1) as w:
        w.deliver(event_id="evt_a", number="00000001")
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        limits = {"rooms.create": {"limit": 0, "per_seconds": 3600, "retry_after": 120}}
        httpx.post(f"{w.emu_url}/_sandbox/knobs", json={"rate_limits": limits}).raise_for_status()
        w.deliver(event_id="evt_b", number="00000002")  # will meet the 429 with Retry-After: 120
        w.settle(lambda: any(j.last_error and "rate limited" in j.last_error for j in w.rt.queue.list()), idle=False)
        # With the only worker free, an event in the first case is still announced at once.
        room_id = w.room("Case 00000001")["id"]
        w.act("act/join", email="kenji@support.example", room_id=room_id)
        w.settle(lambda: "Kenji Sato joined the room" in w.texts(room_id), timeout=10, idle=False)
        waiting = [j for j in w.rt.queue.list() if j.status == JobStatus.QUEUED]
        assert [(j.kind, j.attempts) for j in waiting if j.last_error] == [("case.event", 1)], waiting


def upload(w: object, room_id: str, name: str, scan: str = "clean") -> dict[str, object]:
    return w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="", file={  # type: ignore[attr-defined,no-any-return]
        "name": name, "mime": "application/octet-stream", "content_b64": base64.b64encode(b"x" * 100).decode(),
        "scan": scan})


def test_an_upload_is_announced_once_its_scan_is_done_and_a_blocked_one_never_filed(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        w.deliver()
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        room_id = w.room()["id"]
        # The scan verdict is set as the file lands: set afterwards, CaseRoom may already have fetched it.
        scanned = upload(w, room_id, "scan-me.log", scan="scanning")
        upload(w, room_id, "evil.exe", scan="infected")
        upload(w, room_id, "secret.zip", scan="unscannable")
        # Webex hides a withheld file's name: the notice says what happened, not which file.
        w.settle(lambda: sum("not filed on the case" in t for t in w.texts(room_id)) == 2, idle=False)
        blocked = [t for t in w.texts(room_id) if "not filed on the case" in t]
        assert sorted(blocked) == [
            "carol uploaded a file that is not filed on the case: Webex could not scan it for malware",
            "carol uploaded a file that is not filed on the case: Webex quarantined it as infected",
        ], blocked
        # While Webex scans, nothing is said about the file: no "a file (size unknown)" to correct later.
        assert not [t for t in w.texts(room_id) if "uploaded" in t and "not filed" not in t]
        content_id = str(scanned["files"][0]).rsplit("/", 1)[-1]  # type: ignore[index]
        httpx.post(f"{w.emu_url}/_sandbox/files/{content_id}/scan", json={"state": "clean"}).raise_for_status()
        w.settle(lambda: any(c["name"] == "scan-me.log" for c in w.state.calls("crm.attach_file")), timeout=30)
        w.settle()
        uploads = [t for t in w.texts(room_id) if "uploaded" in t and "not filed" not in t]
        assert uploads == ["carol uploaded scan-me.log (100 bytes)"], uploads
        assert [c["name"] for c in w.state.calls("crm.attach_file")] == ["scan-me.log"]
        assert not [t for t in w.texts(room_id) if "could not be filed" in t]


def test_an_upload_still_scanned_after_the_patience_runs_out_is_announced_unnamed_and_filed_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("integrations.webex.notifications.SCAN_PATIENCE", timedelta(0))
    with webex_world(tmp_path) as w:
        w.deliver()
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        room_id = w.room()["id"]
        w.rt.settings.job_backoff_base_seconds = 0
        scanned = upload(w, room_id, "slow.log", scan="scanning")
        w.settle(lambda: "carol uploaded a file (size unknown)" in w.texts(room_id), idle=False)
        content_id = str(scanned["files"][0]).rsplit("/", 1)[-1]  # type: ignore[index]
        httpx.post(f"{w.emu_url}/_sandbox/files/{content_id}/scan", json={"state": "clean"}).raise_for_status()
        w.settle(lambda: any(c["name"] == "slow.log" for c in w.state.calls("crm.attach_file")), timeout=30)
        assert [c["name"] for c in w.state.calls("crm.attach_file")] == ["slow.log"]


def test_setup_registers_webhooks_idempotently_and_removes_stale_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bot.cli import build

    with webex_world(tmp_path) as w:
        monkeypatch.setenv("WEBEX_BASE_URL", f"{w.emu_url}/v1/")
        monkeypatch.setenv("WEBEX_ACCESS_TOKEN", w.emu.bot_token)
        monkeypatch.setenv("WEBEX_OBSERVER_TOKEN", w.emu.observer_token or "")
        monkeypatch.setenv("WEBEX_WEBHOOK_SECRET", WEBHOOK_SECRET)
        runner = CliRunner()
        moved = runner.invoke(build(), ["webex", "setup", "--public-url", "https://new.example"], terminal_width=200)
        assert moved.exit_code == 0, moved.output
        verbs = [line.split()[0] for line in moved.output.splitlines() if line[:1].isalpha()]
        assert verbs.count("created") == 9 and verbs.count("removed") == 9
        again = runner.invoke(build(), ["webex", "setup", "--public-url", "https://new.example"], terminal_width=200)
        verbs = [line.split()[0] for line in again.output.splitlines() if line[:1].isalpha()]
        assert verbs == ["kept"] * 9
        assert "WEBEX_WEBHOOK_SECRET=" not in again.output  # the configured secret was kept
        hooks = w.emu.snapshot()["webhooks"]
        assert {h["targetUrl"] for h in hooks} == {"https://new.example/webhooks/webex"}
        # bot: memberships created/deleted, messages created/updated/deleted, card actions; observer: messages x3
        assert len(hooks) == 9
