"""Each case belongs to the CRM it came from, and everything about it goes back there and nowhere else."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlmodel import col

from bot.models import Case, Job, JobStatus, Room, RoomState
from integrations.salesforce import digest
from integrations.salesforce.crm import SalesforceCRM
from tests.doubles import SharedState
from tests.salesforce_world import salesforce_world
from tests.support import case_event, encode, runtime, signed_headers
from tests.test_salesforce_adapter import opened


def post_event(url: str, event: dict[str, object]) -> httpx.Response:
    body = encode(event)
    return httpx.post(f"{url}/webhooks/crm", content=body, headers=signed_headers(body), timeout=10)


def test_a_webhook_case_beside_salesforce_opens_and_salesforce_hears_nothing_of_it(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        sf_case, _ = opened(w)
        calls_before = w.sf.api_usage
        assert post_event(w.url, case_event(number="77770001")).status_code == 200
        w.settle(lambda: len(w.rooms()) == 2)
        room = next(r for r in w.rooms() if "77770001" in r["title"])
        w.settle(lambda: any("77770001" in t for t in w.texts(room["id"])))  # the welcome: the room opened

        # Before, the room URL went to Salesforce under the webhook's id, was refused, and failed the room.
        assert w.sf.api_usage == calls_before
        # Both rooms had people join; only the Salesforce case's activity is Salesforce's to hear.
        crm = cast(SalesforceCRM, w.rt.services.crms["salesforce"])
        assert digest.run(crm, w.rt.db, w.rt.services.clock) == 1
        with w.rt.db.session() as s:
            rows = s.execute(select(col(Case.crm_id), col(Case.crm), col(Room.state))
                             .join(Room, col(Room.case_id) == col(Case.id))).all()  # fmt: skip
        assert {crm_id: (crm, state) for crm_id, crm, state in rows} == {
            "50077770001": ("webhook", RoomState.OPEN), sf_case: ("salesforce", RoomState.OPEN)}  # fmt: skip


def test_an_event_naming_another_crms_case_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        sf_case, room_id = opened(w)
        number = w.case(sf_case)["CaseNumber"]
        forged = case_event("evt_x", number="77770002", subject="Hijacked")
        forged["case"]["id"] = sf_case  # type: ignore[index]
        same_number = case_event("evt_y", number=number, subject="Another CRM's case with that number")
        for event in (forged, same_number):
            assert post_event(w.url, event).status_code == 200
        w.settle()

        with w.rt.db.session() as s:
            dead = s.execute(select(col(Job.last_error)).where(col(Job.status) == JobStatus.DEAD)).scalars().all()
            subjects = s.execute(select(col(Case.subject))).scalars().all()
        assert sorted(dead) == sorted([
            f"ForeignCase: case {sf_case} belongs to salesforce, not to webhook: event ignored",
            f"ForeignCase: case number {number} already belongs to case {sf_case} from salesforce; "
            f"webhook case 500{number} cannot have it",
        ]), dead  # fmt: skip
        assert subjects == ["Router drops packets"] and len(w.rooms()) == 1
        assert not any("Hijacked" in t for t in w.texts(room_id))


def test_a_case_recorded_before_cases_named_their_crm_goes_to_the_only_crm_and_learns_it(
    db_url: str, state_file: Path
) -> None:
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    body = encode(case_event())
    assert client.post("/webhooks/crm", content=body, headers=signed_headers(body)).status_code == 200
    rt.worker().drain()
    with rt.db.session() as s:  # as revision 0009 leaves a case it found
        s.execute(update(Case).values(crm=""))
        s.commit()

    body = encode(case_event("evt_2", "case.closed", occurred_at="2026-11-22T19:00:00Z", status="Closed"))
    assert client.post("/webhooks/crm", content=body, headers=signed_headers(body)).status_code == 200
    rt.worker().drain()

    filed = [c["name"] for c in SharedState(state_file).calls("crm.attach_file")]
    assert filed == ["case-00001234-transcript.html", "case-00001234-transcript.json"]
    with rt.db.session() as s:
        assert s.execute(select(col(Case.crm))).scalar_one() == "webhook"
