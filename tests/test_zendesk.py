"""Zendesk end to end: the emulator's signed webhooks in, zenpy over HTTP out, a Webex room in between."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.slack import SlackEmulator
from caseroom_sandbox.zendesk import ZendeskEmulator
from fastapi.testclient import TestClient
from zenpy.lib.api_objects import Trigger

from bot.models import JobStatus, utcnow
from integrations.origins import ForeignOrigin
from integrations.slack.plugin import plugin as slack_plugin
from integrations.zendesk import reconcile, setup
from integrations.zendesk.client import AccountSession, account, client
from integrations.zendesk.inbound import PATH, sign
from integrations.zendesk.settings import ZendeskSettings
from tests.slack_world import SIGNING_SECRET
from tests.support import CASEROOM, command_env
from tests.test_dashboard import TOKEN, csrf_of, login
from tests.test_exact_record import upload
from tests.test_filed_comments import private_answers
from tests.zendesk_world import CUSTOMER, zendesk_world


def test_a_new_ticket_opens_a_room_and_the_ticket_gets_its_url(tmp_path: Path) -> None:
    with zendesk_world(tmp_path) as z:
        ticket = z.open_ticket()
        z.settle(lambda: z.has_room(ticket) and z.room_url(ticket) is not None)
        assert z.members(ticket) == sorted(["ada@support.example", CUSTOMER[0]])
        assert str(z.room_url(ticket)).endswith(f"/rooms/ZD-{ticket}")  # the stable URL, named by the case number
        # Nothing the customer would read was added to the ticket.
        assert all(not c["public"] for c in z.notes(ticket))


def test_a_group_without_assignee_waits_then_an_assignee_is_a_rotation(tmp_path: Path) -> None:
    with zendesk_world(tmp_path) as z:
        group = z.zd.add_group("Network")
        ticket = z.open_ticket(assignee_email=None, group_id=group)
        z.settle(lambda: z.has_room(ticket))
        assert z.members(ticket) == [CUSTOMER[0]]  # nobody has picked the ticket up yet
        z.zd.update_ticket(ticket, assignee_email="kenji@support.example")
        z.settle(lambda: "kenji@support.example" in z.members(ticket))
        handoffs = [c for c in z.notes(ticket) if "Kenji" in c["body"]]
        assert handoffs and all(not c["public"] for c in handoffs)


def test_a_solved_ticket_gets_the_transcript_and_the_files_once_as_private_comments(tmp_path: Path) -> None:
    with zendesk_world(tmp_path) as z:
        ticket = z.open_ticket()
        z.settle(lambda: z.has_room(ticket) and z.room_url(ticket) is not None)
        upload(z.w, z.room(ticket)["id"], "trace.pcap")
        z.settle()
        z.zd.update_ticket(ticket, status="solved")
        z.settle(lambda: bool(z.room(ticket)["isLocked"]))
        names = [a["file_name"] for c in z.notes(ticket) for a in c.get("attachments", [])]
        assert sorted(n.rsplit(".", 1)[-1] for n in names) == ["html", "json", "pcap"], names
        assert all(not c["public"] for c in z.notes(ticket))
        content = z.zd.attachment_bytes(next(a["id"] for c in z.notes(ticket) for a in c.get("attachments", [])
                                             if a["file_name"] == "trace.pcap"))  # fmt: skip
        assert content == b"trace.pcap" * 100


def test_a_rate_limited_write_backs_off_in_the_queue_then_lands(tmp_path: Path) -> None:
    with zendesk_world(tmp_path) as z:
        z.zd.faults.update(rate_limits={"tickets.update": {"limit": 0, "per_seconds": 60, "retry_after": 30}})
        ticket = z.open_ticket()
        z.settle(lambda: any(j.kind == "crm.room_url" and j.attempts == 1 for j in z.w.rt.queue.list()), idle=False)
        [job] = z.w.rt.queue.list(kind="crm.room_url")
        assert job.status == JobStatus.QUEUED and job.run_at >= utcnow() + timedelta(seconds=20)
        assert z.room_url(ticket) is None
        z.zd.faults.update(rate_limits={})  # the minute is over
        z.w.rt.queue.retry(job.id)
        z.settle(lambda: z.room_url(ticket) is not None)


def test_a_lost_webhook_is_healed_by_the_incremental_export_sweep(tmp_path: Path) -> None:
    with zendesk_world(tmp_path) as z:
        api = client(ZendeskSettings(url=z.zd_url, email=z.zd.agent_email, api_token=z.zd.api_token))
        api.triggers.update(Trigger(id=z.done.trigger_id, active=False))  # an admin switched it off for a while
        tickets = [z.open_ticket(f"Outage {n}") for n in range(3)]
        z.settle()
        assert not any(z.has_room(t) for t in tickets)
        z.w.rt.queue.submit(reconcile.KIND, {}, key="sweep-1")
        z.settle(lambda: all(z.room_url(t) for t in tickets))
        assert all(z.members(t) == sorted(["ada@support.example", CUSTOMER[0]]) for t in tickets)
        # Back on: a change the webhook delivers and the next sweep finds again is one event, not two.
        api.triggers.update(Trigger(id=z.done.trigger_id, active=True))
        z.zd.update_ticket(tickets[0], priority="urgent")
        z.settle()
        z.w.rt.queue.submit(reconcile.KIND, {}, key="sweep-2")
        z.settle()
        changed = datetime.fromisoformat(z.zd.ticket(tickets[0])["updated_at"].replace("Z", "+00:00"))
        event_id = f"zendesk:{tickets[0]}:{changed.astimezone(UTC).isoformat()}"
        assert [j.payload["event_id"] for j in z.w.rt.queue.list(kind="case.event")].count(event_id) == 1
        assert len([r for r in z.w.emu.snapshot()["rooms"] if r["title"].startswith("Case ZD-")]) == 3


@pytest.mark.parametrize("case", ["forged", "stale", "missing", "no-ticket"])
def test_a_webhook_zendesk_did_not_sign_now_changes_nothing(tmp_path: Path, case: str) -> None:
    with zendesk_world(tmp_path) as z:
        body = json.dumps({"ticket_id": "1" if case != "no-ticket" else "", "updated_at": "x"}).encode()
        at = datetime.now(UTC) - (timedelta(hours=1) if case == "stale" else timedelta())
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        secret = "not the secret" if case == "forged" else z.done.secret
        headers = {} if case == "missing" else {"X-Zendesk-Webhook-Signature": sign(secret, stamp, body),
                                                "X-Zendesk-Webhook-Signature-Timestamp": stamp}  # fmt: skip
        r = httpx.post(z.w.url + PATH, content=body, headers={"Content-Type": "application/json", **headers})
        assert r.status_code == (400 if case == "no-ticket" else 401), r.text
        assert r.json()["error"]
        assert z.w.rt.queue.counts() == {} or sum(z.w.rt.queue.counts().values()) == 0


def test_zendesk_credentials_go_to_the_configured_account_only() -> None:
    assert account("https://acme.zendesk.com") == ("acme", "zendesk.com")
    session = AccountSession("http://127.0.0.1:9")
    token = base64.b64encode(b"agent@x/token:secret").decode()
    with pytest.raises(ForeignOrigin):
        session.get("https://evil.example/api/v2/tickets.json", headers={"Authorization": f"Basic {token}"})


def test_setup_creates_what_zendesk_needs_once_and_check_config_confirms_it(tmp_path: Path) -> None:
    zd = ZendeskEmulator(subdomain="caseroom")
    server = zd.start()
    try:
        env = command_env(ZENDESK_URL=server.url, ZENDESK_EMAIL=zd.agent_email, ZENDESK_API_TOKEN=zd.api_token,
                          CASEROOM_SANDBOX="false", WEBEX_ACCESS_TOKEN="unused", COLUMNS="200")  # fmt: skip

        def run(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([CASEROOM, *args], cwd=tmp_path, env=env | more, capture_output=True, text=True,
                                  timeout=60, check=False)  # fmt: skip

        setup_args = ("zendesk", "setup", "--public-url", "http://caseroom.test", "--allow-http")
        first = run(*setup_args)
        assert first.returncode == 0, first.stderr
        assert "created the ticket field" in first.stdout and "created the trigger" in first.stdout
        settings = dict(re.findall(r"^\s+(ZENDESK_[A-Z_]+)=(\S+)$", first.stdout, re.M))
        assert set(settings) == {"ZENDESK_ROOM_URL_FIELD_ID", "ZENDESK_WEBHOOK_SECRET"}
        writes = [c for c in zd.calls if c[0] in ("POST", "PUT", "PATCH", "DELETE")]
        again = run(*setup_args, **settings)
        assert again.returncode == 0 and "nothing to change" in again.stdout and "ZENDESK_" not in again.stdout
        assert [c for c in zd.calls if c[0] in ("POST", "PUT", "PATCH", "DELETE")] == writes  # nothing changed
        refused = run("zendesk", "setup", "--public-url", "http://caseroom.test")
        assert refused.returncode == 2 and "is not https" in refused.stderr
        check = run("check-config", "--online", **settings)
        assert f"signed in to {server.url} as" in check.stdout and "ticket field" in check.stdout, check.stdout
    finally:
        zd.stop()


def test_the_manifest_shows_exactly_what_setup_sends() -> None:
    here = Path(__file__).resolve().parent.parent / "manifest" / "zendesk"
    assert json.loads((here / "ticket_field.json").read_text()) == {"ticket_field": setup.wanted_field()}
    assert json.loads((here / "webhook.json").read_text()) == {
        "webhook": setup.wanted_webhook("https://caseroom.example.com/webhooks/zendesk")}
    assert json.loads((here / "trigger.json").read_text()) == {"trigger": setup.wanted_trigger("{webhook id}")}


def test_the_sandbox_page_opens_rotates_and_solves_a_zendesk_ticket_in_the_emulator(tmp_path: Path) -> None:
    with zendesk_world(tmp_path, CASEROOM_SANDBOX="true", CASEROOM_ADMIN_TOKEN=TOKEN) as z:
        admin = TestClient(z.w.rt.app)
        login(admin)
        page = admin.get("/admin/sandbox").text
        assert re.search(r'name="crm"><option value="zendesk" selected', page), "Zendesk is the first CRM offered"
        opening = {"csrf": csrf_of(page), "action": "open", "crm": "zendesk", "subject": "Printer on fire",
                   "priority": "P1", "platform": "webex", "customer_email": CUSTOMER[0], "customer_name": CUSTOMER[1],
                   "engineer_email": "ada@support.example", "engineer_name": "Ada"}  # fmt: skip
        r = admin.post("/admin/sandbox/crm", data=opening, follow_redirects=False)
        assert r.status_code == 303
        number = r.headers["location"].removeprefix("/admin/cases/").removesuffix("?done=sent")
        ticket = int(number.removeprefix("ZD-"))
        # The ticket was made in the emulator, so the room came from Zendesk's own signed webhook.
        assert z.zd.ticket(ticket)["priority"] == "urgent" and z.zd.ticket(ticket)["tags"] == ["caseroom_webex"]
        z.settle(lambda: z.has_room(ticket) and z.room_url(ticket) is not None)
        assert z.members(ticket) == sorted(["ada@support.example", CUSTOMER[0]])

        page = admin.get(f"/admin/cases/{number}").text
        rotate = {"csrf": csrf_of(page), "action": "rotate", "number": number,
                  "engineer_email": "kenji@support.example", "engineer_name": "Kenji Sato"}  # fmt: skip
        assert "done=sent" in str(admin.post("/admin/sandbox/crm", data=rotate).url)
        z.settle(lambda: "kenji@support.example" in z.members(ticket))
        assert z.zd.ticket(ticket)["assignee_id"] == z.zd.add_user("", "kenji@support.example", "agent")

        close = {"csrf": csrf_of(page), "action": "close", "number": number}
        assert "done=sent" in str(admin.post("/admin/sandbox/crm", data=close).url)
        z.settle(lambda: bool(z.room(ticket)["isLocked"]))
        assert z.zd.ticket(ticket)["status"] == "solved"


def test_an_engineers_note_is_a_private_comment_and_a_customer_cannot_add_one(tmp_path: Path) -> None:
    with zendesk_world(tmp_path) as z:
        ticket = z.open_ticket()
        z.settle(lambda: z.has_room(ticket) and z.room_url(ticket) is not None)
        room_id = z.room(ticket)["id"]
        z.w.act("act/message", as_email=CUSTOMER[0], room_id=room_id, text="/case note the engineers should see this")
        z.w.act("act/message", as_email="ada@support.example", room_id=room_id, text="/case note MTU is 1400")
        z.settle(lambda: any("MTU is 1400" in c["body"] for c in z.notes(ticket)))
        notes = [c for c in z.notes(ticket) if "MTU" in c["body"] or "should see" in c["body"]]
        assert [(c["body"], c["public"]) for c in notes] == [("Note from Ada Lovelace (CaseRoom): MTU is 1400", False)]
        assert any("/case note is for the case's engineers" in t for t in private_answers(z.w))
        # Nothing CaseRoom wrote is public: the requester reads only the public comments (their own description).
        assert [c["body"] for c in z.zd.comments(ticket) if c["public"]] == ["Since the upgrade"]


def test_a_ticket_tagged_caseroom_slack_gets_a_slack_channel_with_the_customer_through_slack_connect(
    tmp_path: Path,
) -> None:
    slack = SlackEmulator(signing_secret=SIGNING_SECRET, seed=7)
    slack.add_user("ada@support.example", "Ada Lovelace")
    with ServerThread(slack.app) as slack_server, zendesk_world(
        tmp_path, plugins=(slack_plugin,), SLACK_API_URL=f"{slack_server.url}/api/", SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_RATE_LIMITS="", CASEROOM_DEFAULT_PLATFORM="webex",
    ) as z:  # fmt: skip
        slack.set_request_urls(events=f"{z.w.url}/slack/events", commands=f"{z.w.url}/slack/events")
        ticket = z.open_ticket(tags=("caseroom_slack",))
        name = f"case-zd-{ticket}"

        def channel() -> dict[str, Any] | None:
            return next((c for c in slack.snapshot()["channels"] if c["name"] == name), None)

        z.settle(lambda: channel() is not None and z.room_url(ticket) is not None)
        assert not z.has_room(ticket), "the tag chose Slack over the default platform"
        assert "ada@support.example" in channel()["member_emails"]  # type: ignore[index]
        assert [i["email"] for i in channel()["pending_invites"]] == [CUSTOMER[0]]  # type: ignore[index]
        slack.accept_invite(email=CUSTOMER[0])
        z.settle(lambda: CUSTOMER[0] in channel()["member_emails"])  # type: ignore[index]
        assert str(z.room_url(ticket)).endswith(f"/rooms/ZD-{ticket}")
