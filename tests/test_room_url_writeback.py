"""The room's URL goes to the CRM case by a job of its own: a CRM that refuses it keeps nobody out of the room."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from bot.models import JobStatus
from tests.doubles import SharedState
from tests.support import case_event, runtime
from tests.test_dashboard import TOKEN, csrf_of, deliver, login

URL = "https://caseroom.example/rooms/00001234"


def url_state(client: TestClient) -> str:
    """What the case's dashboard page says of the room URL on the CRM, as text."""
    page = client.get("/admin/cases/00001234").text
    found = re.search(r"<td>Room URL on the CRM</td><td>(.*?)</td>", page, re.S)
    assert found, "the case page says nothing of the room URL"
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_a_crm_refusing_the_room_url_keeps_nobody_out_and_says_so(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file, CASEROOM_ADMIN_TOKEN=TOKEN)
    client = TestClient(rt.app)
    login(client)
    state = SharedState(state_file)
    state.set_fault("crm.write_room_url", "permanent", refuse_case="50000001234")

    deliver(client, case_event())
    rt.worker().drain()

    # The room opened as if the CRM had taken the URL: people invited, welcomed, and the stable URL leads there.
    assert {c["email"] for c in state.calls("add_member")} == {"carol@customer.example", "ada@support.example"}
    assert any("Welcome" in c["text"] for c in state.calls("post"))
    assert client.get("/rooms/00001234", follow_redirects=False).status_code == 302
    assert state.calls("crm.write_room_url") == []
    # The write alone is in the dead letter, and the case's page and timeline say why and how to replay it.
    (dead,) = rt.queue.list(status=JobStatus.DEAD)
    assert dead.kind == "crm.room_url"
    refused = "PermanentCRMError: crm.write_room_url: simulated refusal of case 50000001234"
    assert url_state(client) == f"failed: {refused} (replay job {dead.id})"
    page = client.get("/admin/cases/00001234").text
    assert "could not write the room&#x27;s URL to the CRM case" in page and f"Replay job {dead.id}" in page
    assert 'href="/admin/cases/00001234"' in client.get("/admin/jobs?status=dead").text
    assert rt.queue.counts().get(JobStatus.DONE) == 1  # the case event itself succeeded

    # Fixed on the CRM's side and replayed: the URL is written, once, and the page says so.
    with state.edit() as data:
        data["faults"].clear()
    jobs = client.get("/admin/jobs?status=dead").text
    client.post(f"/admin/jobs/{dead.id}/retry", data={"csrf": csrf_of(jobs)})
    rt.worker().drain()
    assert [c["url"] for c in state.calls("crm.write_room_url")] == [URL]
    assert url_state(client).startswith("written (")


def test_a_crm_that_is_down_gets_the_url_later_and_the_page_shows_the_retry(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file, CASEROOM_ADMIN_TOKEN=TOKEN, CASEROOM_JOB_BACKOFF_BASE_SECONDS=60)
    client = TestClient(rt.app)
    login(client)
    state = SharedState(state_file)
    with state.edit() as data:
        data["faults"]["crm*"] = {"rate": 1.0}  # every CRM call answers 503

    deliver(client, case_event())
    rt.worker().drain()
    assert any("Welcome" in c["text"] for c in state.calls("post"))
    retrying = url_state(client)
    assert retrying.startswith("retrying: attempt 2 due 20") and retrying.endswith(
        "UTC (the last said TransientCRMError: crm.write_room_url: simulated 503)"), retrying

    with state.edit() as data:
        data["faults"].clear()
    (waiting,) = rt.queue.list(status=JobStatus.QUEUED)
    rt.queue.retry(waiting.id or 0)  # instead of waiting out the backoff
    rt.worker().drain()
    assert [c["url"] for c in state.calls("crm.write_room_url")] == [URL]
    assert url_state(client).startswith("written (")
