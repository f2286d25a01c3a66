"""The Salesforce sweeps miss nothing: a case saved behind the reconciliation watermark, a digest line committed late.

Salesforce stamps LastModifiedDate when a save starts, and PostgreSQL hands out ids at insert, not at commit:
both make "newer" arrive after "older" was read, which a bare watermark would skip for good.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
import pytest
from caseroom_sandbox.salesforce import SalesforceEmulator
from sqlalchemy import select
from sqlmodel import col

from bot.db import Database
from bot.models import Case, TimelineEvent
from bot.timeline import Kind, record
from integrations.salesforce import digest, reconcile
from integrations.salesforce.crm import SalesforceCRM, parse_sf_datetime
from integrations.salesforce.settings import SalesforceSettings
from tests.salesforce_world import CUSTOMER, ORG_ID, SalesforceWorld, salesforce_world
from tests.test_salesforce_adapter import left_and_digested, port

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def sweep_now(w: SalesforceWorld) -> int:
    """One sweep in the test's thread (the scheduled job runs the same function), for the count it returns."""
    rt = w.rt
    overlap = timedelta(seconds=rt.settings.section(SalesforceSettings).reconcile_overlap_seconds)
    crm = cast(SalesforceCRM, rt.services.crms["salesforce"])
    return reconcile.sweep(crm, rt.ingest, rt.db, rt.services.clock, overlap=overlap)


def test_a_case_saved_behind_the_watermark_is_read_by_the_next_sweep_and_only_once(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        w.sf.set_outbound_url(None)  # every Outbound Message is lost: only the sweep can open rooms
        first = w.open_case("VPN down")
        assert sweep_now(w) == 1
        w.settle(lambda: bool(w.case(first).get("Room_URL__c")))
        # A save that started two minutes before the case the sweep read commits only now: its LastModifiedDate
        # lies far behind the watermark (a one-second overlap would never look there again).
        created = parse_sf_datetime(w.case(first)["CreatedDate"])
        assert created is not None
        body = {"subject": "Printer on fire", "contact_email": CUSTOMER[0], "contact_name": CUSTOMER[1],
                "owner_email": "ada@support.example", "save_started_at": (created - timedelta(minutes=2)).isoformat()}
        r = httpx.post(f"{w.sf.instance_url}/_sandbox/cases", json=body,
                       verify=ssl.create_default_context(cafile=w.sf.tls.bundle_path))  # fmt: skip
        assert r.status_code == 201, r.text
        late = r.json()["Id"]
        assert parse_sf_datetime(w.case(late)["LastModifiedDate"]) == created - timedelta(minutes=2)
        assert sweep_now(w) == 2  # the late case, and the first case's room-URL write-back
        w.settle(lambda: bool(w.case(late).get("Room_URL__c")))
        assert len(w.rooms()) == 2
        sweep_now(w)  # the late case's room-URL write-back is a change of its own
        w.settle()
        late_room = next(r for r in w.rooms() if r["title"].startswith(f"Case {w.case(late)['CaseNumber']}"))
        before = (w.members(late_room["id"]), w.texts(late_room["id"]))
        # Every sweep reads the window again; what it has seen adds nothing, here or in the rooms.
        assert sweep_now(w) == 0
        w.rt.queue.submit(reconcile.KIND, {}, key="sweep-again")
        w.settle()
        assert len(w.rooms()) == 2
        assert (w.members(late_room["id"]), w.texts(late_room["id"])) == before


def test_room_activity_after_a_digest_reaches_the_case_in_the_next_one_and_nothing_twice(tmp_path: Path) -> None:
    with salesforce_world(tmp_path, SALESFORCE_DIGEST_SECONDS=60) as w:
        case_id, room_id = left_and_digested(w)
        joined = sum("joined" in t for t in w.texts(room_id))
        w.webex_act("act/join", email="ada@support.example", room_id=room_id)
        w.settle(lambda: sum("joined" in t for t in w.texts(room_id)) > joined)
        w.rt.queue.submit(digest.KIND, {}, key="digest-2")
        w.settle(lambda: len(w.case(case_id)["feed_items"]) == 2)
        w.rt.queue.submit(digest.KIND, {}, key="digest-3")  # nothing new: no third post
        w.settle()
        feed = [f["Body"] for f in w.case(case_id)["feed_items"]]
        assert len(feed) == 2, feed
        assert "left" in feed[0] and "left" not in feed[1] and "joined" in feed[1], feed
        assert "Ada" in feed[1]


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    emu = SalesforceEmulator(org_id=ORG_ID, seed=5)
    emu.start()
    yield emu
    emu.close()


def test_a_digest_line_committed_after_a_higher_one_was_posted_is_still_posted_once(
        pg_db: Database, emulator: SalesforceEmulator, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    crm = port(emulator, monkeypatch)
    crm_id = emulator.open_case("Disk full", "", *CUSTOMER)["Id"]
    db = pg_db
    with db.session() as s:
        case = Case(crm_id=crm_id, number="00001000", crm="salesforce")
        s.add(case)
        s.commit()
        assert case.id is not None
        case_pk = case.id
    # A worker's transaction takes the lower id and is still open while another commits a higher one...
    with db.session() as slow:
        record(slow, case_pk, Kind.JOIN, "Ada Lovelace joined", at=NOW - timedelta(minutes=5), source_key="join")
        with db.session() as s:
            record(s, case_pk, Kind.FILE, "Grace shared trace.pcap", at=NOW - timedelta(minutes=4), source_key="f")
            s.commit()
        assert digest.run(crm, db, lambda: NOW) == 1
        slow.commit()
    # ... so the line committed last has the lower id.
    with db.session() as s:
        rows = s.execute(select(col(TimelineEvent.source_key), col(TimelineEvent.id))).all()
    ids = {key: event_id for key, event_id in rows}
    assert ids["join"] < ids["f"], ids
    assert digest.run(crm, db, lambda: NOW) == 1
    assert digest.run(crm, db, lambda: NOW + timedelta(minutes=5)) == 0
    feed = [f["Body"] for f in emulator.case_detail(crm_id)["feed_items"]]
    assert len(feed) == 2, feed
    assert "trace.pcap" in feed[0] and "joined" not in feed[0], feed
    assert "Ada Lovelace joined" in feed[1] and "trace.pcap" not in feed[1], feed
