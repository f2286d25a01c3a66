"""The Zendesk emulator driven through the real zenpy over real HTTP, as the product will drive it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.zendesk import ZendeskEmulator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, TicketField, Trigger, Webhook
from zenpy.lib.exception import APIException, RatelimitBudgetExceeded, RecordNotFoundException

CUSTOMER = "ada@customer.example"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[ZendeskEmulator]:
    emulator = ZendeskEmulator(subdomain="caseroom", page_size=2, export_lag_s=0)
    server = emulator.start()
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", server.url.removeprefix("http://"))
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    yield emulator
    emulator.stop()


def client(emu: ZendeskEmulator, **extra: Any) -> Zenpy:
    options: dict[str, Any] = {"email": emu.agent_email, "token": emu.api_token} | extra
    return Zenpy(subdomain=emu.subdomain, disable_cache=True, **options)


def raw(emu: ZendeskEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    auth = (f"{emu.agent_email}/token", emu.api_token)
    return requests.request(method, f"{emu.base_url}/api/v2/{path}", auth=auth, timeout=10, **kwargs)


def test_reads_a_ticket_its_requester_and_the_agent(emu: ZendeskEmulator) -> None:
    emu.add_user("Ada Lovelace", CUSTOMER, iana_time_zone="Europe/Amsterdam")
    ticket_id = emu.open_ticket("Printer on fire", CUSTOMER, description="It smokes.", tags=["Hardware"])
    zd = client(emu)

    ticket = zd.tickets(id=ticket_id)
    assert (ticket.subject, ticket.status, ticket.priority, ticket.tags) == ("Printer on fire", "new", "normal",
                                                                               ["hardware"])  # fmt: skip
    assert ticket.description == "It smokes."
    requester = zd.users(id=ticket.requester_id)
    assert (requester.email, requester.role, requester.time_zone) == (CUSTOMER, "end-user", "Amsterdam")
    assert requester.iana_time_zone == "Europe/Amsterdam"
    assert zd.users.me().role == "admin"
    assert [u.email for u in zd.users(ids=[ticket.requester_id, emu.agent_id])] == [CUSTOMER, emu.agent_email]

    answer = raw(emu, "GET", f"tickets/{ticket_id}")  # without .json, with the documented rate-limit headers
    assert answer.json()["ticket"]["id"] == ticket_id
    assert answer.headers["X-Rate-Limit"] == "700"
    assert int(answer.headers["X-Rate-Limit-Remaining"]) < 700
    assert ("GET", f"/api/v2/tickets/{ticket_id}.json") in emu.calls


def test_custom_field_and_private_note_with_an_upload(emu: ZendeskEmulator) -> None:
    ticket_id = emu.open_ticket("Login broken", CUSTOMER, assignee_email="grace@support.example")
    zd = client(emu)
    field = zd.ticket_fields.create(TicketField(type="text", title="Room URL"))
    upload = zd.attachments.upload(io.BytesIO(b"trace log"), target_name="trace.txt", content_type="text/plain")
    assert upload.token and upload.attachment.file_name == "trace.txt"
    before = emu.ticket(ticket_id)["updated_at"]

    ticket = zd.tickets(id=ticket_id)
    ticket.custom_fields = [{"id": field.id, "value": "https://rooms.example/7"}]
    ticket.comment = Comment(body="Room opened", public=False, uploads=[upload.token])
    zd.tickets.update(ticket)

    after = emu.ticket(ticket_id)
    assert {"id": field.id, "value": "https://rooms.example/7"} in after["custom_fields"]
    assert after["updated_at"] > before and after["status"] == "open"
    note = emu.comments(ticket_id)[-1]
    assert (note["public"], note["body"], note["author_id"]) == (False, "Room opened", emu.agent_id)
    attachment = note["attachments"][0]
    assert (attachment["file_name"], attachment["content_type"], attachment["size"]) == ("trace.txt", "text/plain", 9)
    assert requests.get(attachment["content_url"], timeout=10).content == b"trace log"
    assert emu.attachment_bytes(attachment["id"]) == b"trace log"
    assert [c.public for c in zd.tickets.comments(ticket=ticket_id)] == [True, False]

    again = {"ticket": {"comment": {"body": "again", "uploads": [upload.token]}}}
    reused = raw(emu, "PUT", f"tickets/{ticket_id}.json", json=again)
    assert reused.status_code == 422 and reused.json()["error"] == "RecordInvalid"
    typo = raw(emu, "PUT", f"tickets/{ticket_id}.json", json={"ticket": {"comment": {"Body": "x"}}})
    assert typo.status_code == 422


def test_incremental_cursor_export_pages_and_resumes(emu: ZendeskEmulator) -> None:
    ids = [emu.open_ticket(f"Case {n}", CUSTOMER) for n in range(5)]
    zd = client(emu)

    stream = zd.tickets.incremental(start_time=0)
    assert [t.id for t in stream] == ids
    pages = [c for c in emu.calls if c[1].startswith("/api/v2/incremental/tickets/cursor")]
    assert len(pages) == 3  # page_size 2: 2 + 2 + 1
    assert stream.end_of_stream is True

    emu.update_ticket(ids[1], priority="high")
    resumed = zd.tickets.incremental(cursor=stream.after_cursor)
    assert [(t.id, t.priority) for t in resumed] == [(ids[1], "high")]

    big = raw(emu, "GET", "incremental/tickets/cursor.json", params={"start_time": 0, "per_page": 5000})
    assert len(big.json()["tickets"]) == 5 and big.json()["end_of_stream"] is True
    emu.set_knobs(export_lag_s=60)
    too_recent = raw(emu, "GET", "incremental/tickets/cursor.json", params={"start_time": int(time.time())})
    assert too_recent.status_code == 422 and too_recent.json()["description"].startswith("Too recent start_time")


def test_bad_credentials_answer_401_and_oauth_works(emu: ZendeskEmulator) -> None:
    with pytest.raises(APIException) as refused:
        client(emu, token="not-the-token").users.me()
    assert refused.value.response.status_code == 401
    assert refused.value.response.json() == {"error": "Couldn't authenticate you"}
    assert Zenpy(subdomain=emu.subdomain, oauth_token=emu.oauth_token).users.me().id == emu.agent_id


def test_unknown_ticket_answers_404(emu: ZendeskEmulator) -> None:
    with pytest.raises(RecordNotFoundException) as missing:
        client(emu).tickets(id=404)
    assert missing.value.response.json() == {"error": "RecordNotFound", "description": "Not found"}


def test_rate_limit_surfaces_429_with_retry_after_and_errors_503(emu: ZendeskEmulator) -> None:
    ticket_id = emu.open_ticket("Slow", CUSTOMER)
    emu.faults.update(rate_limits={"tickets.show": {"limit": 0, "per_seconds": 60, "retry_after": 7}})
    with pytest.raises(RatelimitBudgetExceeded):
        client(emu, ratelimit_budget=1).tickets(id=ticket_id)
    limited = raw(emu, "GET", f"tickets/{ticket_id}.json")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert raw(emu, "GET", "users/me.json").status_code == 200  # only tickets.show is limited

    emu.set_knobs(error_rate=1.0, rate_limits={})
    assert raw(emu, "GET", "users/me.json").status_code == 503


def test_closed_ticket_refuses_updates(emu: ZendeskEmulator) -> None:
    ticket_id = emu.open_ticket("Done", CUSTOMER, assignee_email="grace@support.example")
    emu.update_ticket(ticket_id, status="closed")
    zd = client(emu)
    ticket = zd.tickets(id=ticket_id)
    ticket.comment = Comment(body="One more thing", public=False)
    with pytest.raises(APIException) as refused:
        zd.tickets.update(ticket)
    assert refused.value.response.status_code == 422
    assert refused.value.response.json() == {
        "error": "RecordInvalid", "description": "Record validation errors",
        "details": {"status": [{"description": "Status: closed prevents ticket update"}]},
    }  # fmt: skip
    assert len(emu.comments(ticket_id)) == 1


def receiver(received: list[tuple[dict[str, str], bytes]]) -> Starlette:
    """A product-like endpoint: answers 409 the first time (Zendesk retries it), 200 afterwards."""

    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=409 if len(received) == 1 else 200)

    return Starlette(routes=[Route("/zendesk", hook, methods=["POST"])])


def test_trigger_webhook_is_signed_rendered_and_retried(emu: ZendeskEmulator) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    with ServerThread(receiver(received)) as sink:
        zd = client(emu)
        hook = zd.webhooks.create(Webhook(name="CaseRoom", endpoint=f"{sink.url}/zendesk", http_method="POST",
                                          request_format="json", status="active",
                                          subscriptions=["conditional_ticket_events"]))  # fmt: skip
        secret = zd.webhooks.show_secret(hook.id).secret
        names = {"id": "id", "status": "status", "priority": "priority", "title": "title", "url": "url",
                 "who": "assignee.email", "from": "requester.email", "at": "updated_at_with_timestamp"}
        body = json.dumps({key: f"{{{{ticket.{name}}}}}" for key, name in names.items()})
        conditions = {"all": [], "any": [{"field": "update_type", "operator": "is", "value": "Create"},
                                         {"field": "assignee_id", "operator": "changed", "value": None}]}  # fmt: skip
        zd.triggers.create(Trigger(title="Tell CaseRoom", conditions=conditions,
                                   actions=[{"field": "notification_webhook", "value": [hook.id, body]}]))  # fmt: skip

        ticket_id = emu.open_ticket("VPN down", CUSTOMER)
        emu.update_ticket(ticket_id, assignee_email="grace@support.example")
        emu.update_ticket(ticket_id, priority="high")  # no condition matches: no delivery
        assert emu.flush(timeout=10)

    assert [(d["status"], d["attempt"]) for d in emu.deliveries] == [(409, 1), (200, 2), (200, 1)]
    assert emu.deliveries[0]["invocation_id"] == emu.deliveries[1]["invocation_id"]
    for headers, raw_body in received:
        stamp = headers["x-zendesk-webhook-signature-timestamp"]
        expected = hmac.new(secret.encode(), stamp.encode() + raw_body, hashlib.sha256).digest()
        assert headers["x-zendesk-webhook-signature"] == base64.b64encode(expected).decode()
        assert headers["x-zendesk-webhook-id"] == hook.id and headers["x-zendesk-webhook-invocation-id"]
    created, assigned = json.loads(received[1][1]), json.loads(received[2][1])
    assert created == {"id": str(ticket_id), "status": "New", "priority": "Normal", "title": "VPN down",
                       "url": f"caseroom.zendesk.com/agent/tickets/{ticket_id}", "who": "", "from": CUSTOMER,
                       "at": emu.ticket(ticket_id)["created_at"]}  # fmt: skip
    assert (assigned["status"], assigned["who"]) == ("Open", "grace@support.example")


def test_writes_that_zendesk_refuses_are_refused(emu: ZendeskEmulator) -> None:
    ticket_id = emu.open_ticket("Strict", CUSTOMER)
    unknown = raw(emu, "PUT", f"tickets/{ticket_id}", json={"ticket": {"colour": "red"}})
    assert unknown.status_code == 422 and "colour" in unknown.json()["details"]
    solved = raw(emu, "PUT", f"tickets/{ticket_id}", json={"ticket": {"status": "solved"}})
    assert solved.status_code == 422  # Solved needs an assignee
    no_title = raw(emu, "POST", "ticket_fields.json", json={"ticket_field": {"type": "text"}})
    assert no_title.status_code == 422 and "title" in no_title.json()["details"]
    hook = raw(emu, "POST", "webhooks", json={"webhook": {"name": "x", "endpoint": "http://127.0.0.1:9/x"}})
    assert hook.status_code == 400
    actions = [{"field": "status", "value": "open"}]  # a real action, but not one the emulator can honour
    rule = {"title": "t", "conditions": {"all": []}, "actions": actions}
    trigger = raw(emu, "POST", "triggers", json={"trigger": rule})
    assert trigger.status_code == 422
    expired = raw(emu, "POST", "uploads.json", params={"filename": "a.txt"}, data=b"a",
                  headers={"Content-Type": "text/plain"}).json()["upload"]  # fmt: skip
    emu.expire_uploads()
    late_note = {"ticket": {"comment": {"body": "x", "uploads": [expired["token"]]}}}
    late = raw(emu, "PUT", f"tickets/{ticket_id}", json=late_note)
    assert late.status_code == 422 and requests.get(expired["attachment"]["content_url"], timeout=10).status_code == 404
