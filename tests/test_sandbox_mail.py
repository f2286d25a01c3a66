"""`make run`'s sandbox has mail too: `caseroom serve` with no credentials starts a local SMTP server CaseRoom sends
to, and the dashboard's Sandbox page shows the mail sent and replies as its recipient, into CaseRoom's listener."""

from __future__ import annotations

import re
import smtplib
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from caseroom_sandbox.mail_control import MailControl
from caseroom_sandbox.mailbox import Mailbox
from caseroom_sandbox.server import ServerThread

from bot.config import Settings
from integrations.mail.settings import MailSettings
from tests.support import CASEROOM, command_env, first_answer, free_port, wait_until

TOKEN = "sandbox-admin-token-for-tests"
DANA = "dana@nochat.example"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    """`caseroom serve` as `make run` starts it on a machine with no credentials, signed in to its dashboard."""
    port = free_port()
    out = tmp_path / "serve.log"
    env = command_env(CASEROOM_DATABASE_URL=f"sqlite:///{tmp_path / 'caseroom.db'}", CASEROOM_ADMIN_TOKEN=TOKEN,
                      COLUMNS="300")  # fmt: skip
    with out.open("w") as sink:
        proc = subprocess.Popen([CASEROOM, "serve", "--port", str(port)], cwd=tmp_path, env=env, stdout=sink,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        first_answer(proc, f"{url}/healthz", 60, out.read_text)
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as client:
            assert client.post("/admin/login", data={"token": TOKEN, "next": "/admin"}).status_code == 200
            yield client, out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:2000]
    return found.group(1)


def test_make_run_mails_a_customer_without_chat_and_the_sandbox_page_replies_as_her(
    served: tuple[httpx.Client, Path],
) -> None:
    client, log = served
    banner = log.read_text()
    assert "Mail: CaseRoom's mail is kept by a local SMTP server (smtp://127.0.0.1:" in banner, banner
    assert "Customers at nochat.example have no chat platform" in banner
    page = client.get("/admin/sandbox").text
    assert "No mail sent yet." in page

    opening = {"csrf": csrf(page), "action": "open", "crm": "webhook", "number": "SBX42", "subject": "VPN drops",
               "priority": "P2", "platform": "webex", "customer_email": DANA, "customer_name": "Dana Doe",
               "engineer_email": "ada@support.example", "engineer_name": "Ada Lovelace",
               "engineer_timezone": "Europe/Amsterdam"}  # fmt: skip
    r = client.post("/admin/sandbox/crm", data=opening, follow_redirects=False)
    assert r.headers["location"] == "/admin/cases/SBX42?done=sent"
    wait_until(lambda: f"Reply as {DANA}" in client.get("/admin/sandbox").text, 30, lambda: "no mail for Dana")
    page = client.get("/admin/sandbox").text
    assert "[Case SBX42] VPN drops" in page
    mail_id = re.search(r'name="mail" value="(\d+)"', page)
    assert mail_id

    r = client.post("/admin/sandbox/mail/reply", data={"csrf": csrf(page), "mail": mail_id.group(1),
                                                       "text": "Restarted the tunnel; it holds now."})  # fmt: skip
    assert "went by SMTP to CaseRoom" in r.text and "250 accepted" in r.text
    webex = re.search(r"Webex\s+(http://127\.0\.0\.1:\d+)", banner)
    assert webex

    def room_texts() -> list[str]:
        [room] = [r for r in httpx.get(f"{webex.group(1)}/_sandbox/state").json()["rooms"] if "SBX42" in r["title"]]
        found = httpx.get(f"{webex.group(1)}/_sandbox/rooms/{room['id']}/messages").json()
        return [str(m.get("text", "")) for m in found["items"]]

    wait_until(lambda: any("Restarted the tunnel" in t for t in room_texts()), 30, lambda: str(room_texts()))
    [posted] = [t for t in room_texts() if "Restarted the tunnel" in t]
    assert "(by e-mail)" in posted and "wrote:" not in posted  # the quoted mail below the reply is stripped


def test_the_mail_control_api_says_why_a_reply_was_not_taken() -> None:
    mailbox = Mailbox()
    control = MailControl(mailbox)
    with ServerThread(control.app) as server:
        smtp = mailbox.start().removeprefix("smtp://").split("?")[0]
        try:
            assert httpx.post(f"{server.url}/_sandbox/act/reply", json={"mail": 0, "text": "hi"}).status_code == 404
            assert httpx.post(f"{server.url}/_sandbox/act/reply", json={"text": "hi"}).status_code == 400
            # A mail to Dana, whose reply address's domain has no server at first, then one that refuses it.
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "CaseRoom <c@reply.test>", "Dana <dana@x.test>", "[Case 1] Hi"
            msg["Reply-To"] = "case-1+tok@reply.test"
            msg.set_content("Welcome")
            with smtplib.SMTP(*smtp.split(":")) as s:
                s.send_message(msg)
            r = httpx.post(f"{server.url}/_sandbox/act/reply", json={"mail": 0, "text": "hi"})
            assert r.status_code == 422 and "no mail server takes mail for case-1+tok@reply.test" in r.text
            host, port = smtp.split(":")
            control.route("reply.test", host, int(port))
            mailbox.bounce("case-1+tok@reply.test", "Unknown reply address")
            r = httpx.post(f"{server.url}/_sandbox/act/reply", json={"mail": 0, "text": "hi"})
            assert r.status_code == 422 and "550 5.1.1 Unknown reply address" in r.text
            [kept] = httpx.get(f"{server.url}/_sandbox/state").json()["replies"]
            assert kept["from"] == "dana@x.test" and kept["subject"] == "Re: [Case 1] Hi"
        finally:
            mailbox.stop()


def test_a_mail_relay_alone_leaves_the_sandbox_on() -> None:
    s = Settings(CASEROOM_SMTP_URL="smtp://relay.example", CASEROOM_MAIL_DOMAIN="reply.example")
    assert s.section(MailSettings).configured
    assert not s.has_credentials and s.sandbox_mode
