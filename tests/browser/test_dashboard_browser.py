"""A real browser signs in, follows a case from open to closed in sandbox mode, and replays a dead letter.

CaseRoom runs as it does in production (uvicorn on a port, background workers); the chat platform and the CRM
are the recording doubles of ``tests/doubles.py``. Screenshots land in ``artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from caseroom_sandbox.server import ServerThread, listen

from bot.events import WEBHOOK_CRM
from bot.models import JobStatus
from bot.runtime import Runtime
from tests.doubles import FakeCRM, FakeMessenger, SharedState
from tests.support import settings, wait_until

TOKEN = "browser-test-admin-token"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Runtime, SharedState]]:
    sock = listen()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    state = SharedState(tmp_path / "platform.json")
    config = settings(f"sqlite:///{tmp_path / 'caseroom.db'}", CASEROOM_PUBLIC_URL=url, CASEROOM_SANDBOX=True,
                      CASEROOM_ADMIN_TOKEN=TOKEN, CASEROOM_WORKERS=2)  # fmt: skip
    rt = Runtime(config, plugins=[], messaging={"webex": FakeMessenger(state)},
                 crms={WEBHOOK_CRM: FakeCRM(state)})  # fmt: skip
    rt.start_background(scheduler=False)
    server = ServerThread(rt.app, sock=sock).start()
    try:
        yield url, rt, state
    finally:
        server.stop()
        rt.stop()


def until(page: Any, check: Callable[[str], bool], what: str, timeout: float = 20.0) -> None:
    """Reload until the page shows ``what`` happened: the work is done by background workers."""

    def shown() -> bool:
        if check(page.content()):
            return True
        page.reload()
        return False

    wait_until(shown, timeout, lambda: f"{what}; page was:\n{page.content()[-2000:]}", poll=0.25)


def test_sign_in_follow_a_case_to_closed_and_replay_a_dead_letter(browser: Any, served: Any, screenshots: Path) -> None:
    url, rt, state = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    # Signing in.
    page.goto(f"{url}/admin")
    assert "/admin/login" in page.url
    page.screenshot(path=str(screenshots / "01-sign-in.png"), full_page=True)
    page.get_by_label("Admin token").fill("wrong-token-wrong-token")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()  # the answer's page loaded: right after the click its document can still be empty
    assert "not right" in page.content()
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.url == f"{url}/admin"
    assert page.get_by_role("heading", name="Rooms").is_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "caseroom_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    # Acting as the CRM: open a case.
    page.get_by_role("link", name="Sandbox").click()
    page.get_by_label("Case number").fill("00004242")
    page.get_by_label("Subject").fill("VPN drops every hour")
    page.get_by_label("Priority").select_option("P1")
    page.screenshot(path=str(screenshots / "02-sandbox-open-case.png"), full_page=True)
    page.get_by_role("button", name="Open the case").click()
    until(page, lambda html: 'class="state state-open"' in html, "the room to open")
    assert "Ada Lovelace" in page.content() and "carol@customer.example" in page.content()
    assert page.get_by_role("link", name="Transcript").get_attribute("href") == "/cases/00004242/transcript"
    page.screenshot(path=str(screenshots / "03-case-open.png"), full_page=True)

    # The rooms list shows it with its state, owner and age.
    page.goto(f"{url}/admin")
    row = page.get_by_role("row", name="00004242")
    assert "open" in row.inner_text() and "Ada Lovelace" in row.inner_text()
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshots / "04-rooms-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Follow-the-sun: hand over to Kenji, then close.
    page.get_by_role("link", name="00004242").click()
    page.get_by_role("button", name="Hand the case over (rotation)").click()
    until(page, lambda html: "handoff" in html and "kenji@support.example" in html, "the handoff")
    page.get_by_role("button", name="Close the case in the CRM").click()
    until(page, lambda html: 'class="state state-closed"' in html, "the room to close")
    assert "removed at closure" in page.content()
    assert state.read()["rooms"]["00004242"]["archived"] is True
    page.screenshot(path=str(screenshots / "05-case-closed.png"), full_page=True)

    # A case whose room cannot be created ends in the dead letter; replaying it from the page works.
    state.set_fault("ensure_room", "permanent")
    page.goto(f"{url}/admin/sandbox")
    page.get_by_label("Case number").fill("00004343")
    page.get_by_role("button", name="Open the case").click()
    page.goto(f"{url}/admin/jobs?status=dead")
    until(page, lambda html: "00004343" in html, "the job to be dead-lettered")
    assert "simulated refusal" in page.content()
    page.screenshot(path=str(screenshots / "06-dead-letters.png"), full_page=True)
    page.get_by_role("row", name="00004343").get_by_role("button", name="Replay").click()
    page.wait_for_url("**done=replayed**")  # the redirect's page loaded: reading it earlier gave an empty page
    assert "queued again" in page.content()
    page.goto(f"{url}/admin/cases/00004343")
    until(page, lambda html: 'class="state state-open"' in html, "the replayed job to open the room")
    assert not rt.queue.list(status=JobStatus.DEAD)
    page.screenshot(path=str(screenshots / "07-replayed-case-open.png"), full_page=True)

    for path, name in (("/admin/health", "08-integrations.png"), ("/admin/figures", "09-figures.png")):
        page.goto(f"{url}{path}")
        assert page.get_by_role("table").first.is_visible()
        page.screenshot(path=str(screenshots / name), full_page=True)
    assert TOKEN not in page.content()

    # Signing out ends the session.
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{url}/admin")
    assert "/admin/login" in page.url
    context.close()
