"""The admin dashboard: sign-in, what each page shows, replaying dead letters, sandbox controls, no leaks."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from caseroom_sandbox.server import ServerThread
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import health
from bot.dashboard import admin_gate
from bot.dashboard.auth import COOKIE, DashboardAuth
from bot.models import JobStatus
from bot.runtime import Runtime
from integrations.slack.plugin import plugin as slack_plugin
from tests.doubles import SharedState
from tests.shift_support import FakeClock
from tests.support import SECRET, case_event, encode, runtime, settings, signed_headers

TOKEN = "dashboard-admin-token-123"
PAGES = ["/admin", "/admin/cases/00001234", "/admin/jobs", "/admin/health", "/admin/figures", "/admin/sandbox"]


def deliver(client: TestClient, event: dict[str, Any]) -> None:
    body = encode(event)
    assert client.post("/webhooks/crm", content=body, headers=signed_headers(body)).status_code == 200


def login(client: TestClient, token: str = TOKEN) -> Any:
    return client.post("/admin/login", data={"token": token, "next": "/admin/jobs"}, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.fixture
def rt(db_url: str, state_file: Path) -> Any:
    runtime_, _ = runtime(db_url, state_file, CASEROOM_ADMIN_TOKEN=TOKEN, CASEROOM_SANDBOX=True)
    yield runtime_
    runtime_.stop()


def test_without_an_admin_the_dashboard_is_off_and_says_what_to_set(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    for path in ("/admin", "/admin/jobs", "/admin/login"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 404 and "CASEROOM_ADMIN_TOKEN" in r.text and "CASEROOM_ADMIN_HEADER" in r.text
    assert client.post("/admin/login", data={"token": "x" * 20}).status_code == 404
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_pages_need_a_login_and_the_token_sets_a_strict_httponly_session(rt: Runtime) -> None:
    client = TestClient(rt.app)
    for path in PAGES:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/admin/login?next=")
    assert client.get("/healthz").status_code == 200 and client.get("/metrics").status_code == 200

    wrong = login(client, "not-the-admin-token")
    assert wrong.status_code == 401 and COOKIE not in wrong.headers.get("set-cookie", "")
    ok = login(client)
    assert ok.status_code == 303 and ok.headers["location"] == "/admin/jobs"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/;" in cookie
    for path in PAGES[:1] + PAGES[2:]:
        assert client.get(path).status_code == 200, path

    # Nowhere to an outside site after sign-in.
    evil = client.post("/admin/login", data={"token": TOKEN, "next": "//evil.example/x"}, follow_redirects=False)
    assert evil.headers["location"] == "/admin"


def test_forged_or_expired_sessions_are_refused(rt: Runtime) -> None:
    auth = DashboardAuth(rt.settings)
    client = TestClient(rt.app)
    good = auth.new_session()
    payload, _, mac = good.rpartition(":")
    forged = f"{payload}:{'0' * len(mac)}"
    another = settings(rt.settings.database_url, CASEROOM_ADMIN_TOKEN="another-token-entirely")
    other = DashboardAuth(another).new_session()
    old = DashboardAuth(rt.settings, clock=lambda: time.time() - 13 * 3600).new_session()
    for value in (forged, other, old, "garbage", ""):
        client.cookies.set(COOKIE, value)
        assert client.get("/admin", follow_redirects=False).status_code == 303, value
    client.cookies.set(COOKIE, good)
    assert client.get("/admin").status_code == 200


def test_wrong_tokens_in_a_row_slow_that_client_down_and_are_logged(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock("2026-12-03T12:00:00Z")
    rt.services.clock = clock
    guesser = TestClient(rt.app, client=("203.0.113.9", 40000))
    caplog.set_level(logging.WARNING, logger="bot.dashboard.brake")
    answers = [login(guesser, f"guess-number-{i:02d}") for i in range(40)]
    assert [a.status_code for a in answers[:6]] == [401] * 6
    assert "Wait" not in answers[4].text and "Wait 1 s before the next try" in answers[5].text
    assert {a.status_code for a in answers[6:]} == {429}
    assert answers[6].headers["Retry-After"] == "1" and "try again in 1 s" in answers[6].text
    assert login(guesser).status_code == 429  # even the right token waits: a guess in the wait learns nothing
    assert login(TestClient(rt.app, client=("198.51.100.7", 40000))).status_code == 303  # others are not braked

    clock.set("2026-12-03T12:00:01Z")
    again = login(guesser, "guess-number-40")
    assert again.status_code == 401 and "Wait 2 s" in again.text  # each failure after the free ones doubles
    clock.set("2026-12-03T12:00:02Z")
    assert login(guesser).status_code == 429
    clock.set("2026-12-03T12:00:03Z")
    assert login(guesser).status_code == 303
    assert "Wait" not in login(guesser, "a-typo-after-success").text  # a right token clears the record

    lines = [r.getMessage() for r in caplog.records]
    assert sum("failed from 203.0.113.9" in line for line in lines) == 8
    assert any("7 wrong tokens in a row; locked out for 2 s" in line for line in lines)
    assert sum("refused while locked out" in line for line in lines) == 2  # once per lockout, not per request
    assert all("guess-number" not in line for line in lines)  # the guesses themselves are never logged


def test_a_proxy_header_signs_in_only_when_configured(db_url: str, state_file: Path) -> None:
    plain, _ = runtime(db_url, state_file, CASEROOM_ADMIN_TOKEN=TOKEN)
    r = TestClient(plain.app).get("/admin", headers={"X-Forwarded-User": "eve"}, follow_redirects=False)
    assert r.status_code == 303  # the header means nothing unless CASEROOM_ADMIN_HEADER names it
    proxied, _ = runtime(db_url, state_file, CASEROOM_ADMIN_HEADER="X-Forwarded-User")
    client = TestClient(proxied.app)
    assert client.get("/admin", follow_redirects=False).status_code == 303  # no header: not signed in
    assert "X-Forwarded-User" in client.get("/admin/login").text
    page = client.get("/admin", headers={"X-Forwarded-User": "grace@support.example"})
    assert page.status_code == 200 and "grace@support.example" in page.text and "Sign out" not in page.text


def test_no_page_shows_a_secret(rt: Runtime) -> None:
    client = TestClient(rt.app)
    deliver(client, case_event())
    rt.worker().drain()
    login(client)
    rt.services.health.failure("webex", f"HTTP 401 with token {SECRET} echoed back")  # quotes a secret
    for path in PAGES:
        text = client.get(path).text
        assert SECRET not in text and TOKEN not in text, path
    page = client.get("/admin/health").text
    assert "CASEROOM_CRM_WEBHOOK_SECRET" in page and "set (hidden)" in page and "[redacted]" in page


def test_a_plugins_settings_are_listed_by_their_variables_and_its_secrets_never_shown(tmp_path: Path) -> None:
    plugin_secret, bot_token = "slack-signing-secret-kept-from-pages", "xoxb-kept-from-pages"
    config = settings(f"sqlite:///{tmp_path / 'caseroom.db'}", CASEROOM_ADMIN_TOKEN=TOKEN, SLACK_BOT_TOKEN=bot_token,
                      SLACK_SIGNING_SECRET=plugin_secret, SLACK_API_URL="http://127.0.0.1:9/api/")  # fmt: skip
    rt = Runtime(config, plugins=[slack_plugin])
    client = TestClient(rt.app)
    login(client)
    rt.services.health.failure("slack", f"invalid_auth for {bot_token}, signed with {plugin_secret}")
    for path in PAGES:
        text = client.get(path).text
        assert plugin_secret not in text and bot_token not in text, path
    page = client.get("/admin/health").text
    for variable in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_API_URL", "SLACK_CHANNEL_TEMPLATE"):
        assert variable in page
    assert "http://127.0.0.1:9/api/" in page and "[redacted]" in page
    rt.stop()


def test_rooms_and_case_page_show_state_people_timeline_in_utc_and_transcript_link(rt: Runtime) -> None:
    client = TestClient(rt.app)
    deliver(client, case_event(subject="<script>alert(1)</script> VPN"))
    rt.worker().drain()
    login(client)
    rooms = client.get("/admin").text
    assert "00001234" in rooms and "open" in rooms and "Ada" in rooms and "webex" in rooms
    assert "<script>alert(1)</script>" not in rooms and "&lt;script&gt;" in rooms
    case = client.get("/admin/cases/00001234").text
    assert 'href="/cases/00001234/transcript"' in case
    assert "2026-11-22 18:00:00 UTC" in case  # the CRM event's own time
    assert "carol@customer.example" in case and "customer" in case and "engineer" in case
    assert "Europe/Amsterdam" in case
    assert client.get("/admin/cases/nope").status_code == 404


def test_a_dead_letter_is_replayed_from_the_dashboard(rt: Runtime, state_file: Path) -> None:
    SharedState(state_file).set_fault("ensure_room", "permanent")
    client = TestClient(rt.app)
    deliver(client, case_event())
    rt.worker().drain()
    (dead,) = rt.queue.list(status=JobStatus.DEAD)
    login(client)
    page = client.get("/admin/jobs?status=dead").text
    assert f"/admin/jobs/{dead.id}/retry" in page and "simulated refusal" in page
    assert client.post(f"/admin/jobs/{dead.id}/retry", data={"csrf": "forged"}).status_code == 403
    other_site = client.post(f"/admin/jobs/{dead.id}/retry", data={"csrf": csrf_of(page)},
                             headers={"Origin": "https://evil.example"})  # fmt: skip
    assert other_site.status_code == 403
    assert rt.queue.list(status=JobStatus.DEAD)

    r = client.post(f"/admin/jobs/{dead.id}/retry", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    assert "queued again" in client.get(r.headers["location"]).text
    rt.worker().drain()
    assert rt.queue.counts() == {JobStatus.DONE: 2}  # the replayed event and the URL write it queued
    assert "room-00001234" in str(SharedState(state_file).read()["rooms"])


def test_sandbox_controls_drive_a_case_from_open_to_closed(rt: Runtime, state_file: Path) -> None:
    client = TestClient(rt.app)
    login(client)
    form = client.get("/admin/sandbox").text
    data = {"csrf": csrf_of(form), "action": "open", "number": "SBX1", "subject": "Printer on fire",
            "priority": "P1", "platform": "webex", "customer_email": "carol@customer.example",
            "customer_name": "Carol", "engineer_email": "ada@support.example", "engineer_name": "Ada",
            "engineer_timezone": "Europe/Amsterdam"}  # fmt: skip
    # Only the CRMs this deployment serves are offered; another is refused and opens nothing.
    r = client.post("/admin/sandbox/crm", data=data | {"crm": "zendesk"}, follow_redirects=False)
    assert r.headers["location"] == "/admin/cases/SBX1?error=bad-input"
    r = client.post("/admin/sandbox/crm", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/cases/SBX1?done=sent"
    rt.worker().drain()
    page = client.get("/admin/cases/SBX1").text
    assert 'class="state state-open"' in page and "Printer on fire" in page

    rotate = {"csrf": csrf_of(page), "action": "rotate", "number": "SBX1", "engineer_email": "kenji@support.example",
              "engineer_name": "Kenji", "engineer_timezone": "Asia/Tokyo"}  # fmt: skip
    assert client.post("/admin/sandbox/crm", data=rotate).status_code == 200
    rt.worker().drain()
    assert "handoff" in client.get("/admin/cases/SBX1").text
    closing = {"csrf": csrf_of(page), "action": "close", "number": "SBX1"}
    assert client.post("/admin/sandbox/crm", data=closing).status_code == 200
    rt.worker().drain()
    page = client.get("/admin/cases/SBX1").text
    assert 'class="state state-closed"' in page and "nothing reopens it" in page
    assert SharedState(state_file).read()["rooms"]["SBX1"]["archived"] is True


def test_sandbox_controls_are_absent_outside_sandbox_mode(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file, CASEROOM_ADMIN_TOKEN=TOKEN)
    client = TestClient(rt.app)
    login(client)
    assert client.get("/admin/sandbox").status_code == 404
    page = client.get("/admin/jobs").text
    r = client.post("/admin/sandbox/crm", data={"csrf": csrf_of(page), "action": "open", "number": "X1"})
    assert r.status_code == 404 and "sandbox mode" in r.text


def test_people_in_the_room_are_played_through_the_emulator_control_api(db_url: str, state_file: Path) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def act(request: Request) -> JSONResponse:
        seen.append((request.url.path, await request.json()))
        return JSONResponse({"ok": True})

    fake = Starlette(routes=[Route("/_sandbox/act/{what}", act, methods=["POST"])])
    with ServerThread(fake) as emulator:
        rt, _ = runtime(db_url, state_file, CASEROOM_ADMIN_TOKEN=TOKEN, CASEROOM_SANDBOX=True,
                        WEBEX_BASE_URL=f"{emulator.url}/v1/")  # fmt: skip
        client = TestClient(rt.app)
        deliver(client, case_event())
        rt.worker().drain()
        login(client)
        page = client.get("/admin/cases/00001234").text
        assert "/admin/sandbox/room" in page
        for action in ("message", "join", "leave"):
            r = client.post("/admin/sandbox/room", data={"csrf": csrf_of(page), "number": "00001234",
                            "email": "carol@customer.example", "action": action, "text": "hi"})  # fmt: skip
            assert "emulator carried out" in r.text
    assert seen == [
        ("/_sandbox/act/message", {"as_email": "carol@customer.example", "room_id": "room-00001234", "text": "hi"}),
        ("/_sandbox/act/join", {"email": "carol@customer.example", "room_id": "room-00001234"}),
        ("/_sandbox/act/leave", {"email": "carol@customer.example", "room_id": "room-00001234"}),
    ]


def test_integration_health_records_successes_errors_and_waits() -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web import SlackResponse

    from integrations.messaging import TransientPlatformError
    from integrations.slack.errors import SlackCalls

    slack = SlackCalls()
    assert slack.call("chat.postMessage", lambda: {"ok": True}) == {"ok": True}
    limited = SlackResponse(client=None, http_verb="POST", api_url="x", req_args={}, data={"ok": False,
                            "error": "ratelimited"}, headers={"Retry-After": "30"}, status_code=429)  # fmt: skip

    def refuse() -> None:
        raise SlackApiError("ratelimited", limited)

    with pytest.raises(TransientPlatformError):
        slack.call("chat.postMessage", refuse)
    record = slack.health.snapshot()["slack"]
    assert record.calls_ok == 1 and record.calls_failed == 1
    assert record.rate_limit_waits == 1 and record.last_wait_seconds == 30.0
    assert "ratelimited" in record.last_error and record.status == "last call failed"
    assert health.rate_limit_total("slack") >= 1 and health.api_calls("slack").get("ok", 0) >= 1


def test_admin_gate_guards_a_route_outside_admin_with_the_same_session(rt: Runtime) -> None:
    gate = admin_gate(rt.services)

    def private(request: Request) -> Response:
        return gate(request) or Response("secret stuff")

    rt.app.add_api_route("/private", private)
    client = TestClient(rt.app)
    assert client.get("/private", follow_redirects=False).status_code == 303
    login(client)
    assert client.get("/private").text == "secret stuff"
