"""Operational figures checked against timelines with known times."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlmodel import Session, select

from bot import figures, timeline
from bot.models import Case, CaseFile, ClosedCaseFigures, Participant, TimelineEvent
from bot.timeline import Kind
from tests.support import case_event, caseroom, encode, runtime, signed_headers

T = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday: ISO week 2026-W47
TOKEN = "figures-admin-token-0123"


def at(days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    return T + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def make_case(s: Session, number: str, priority: str, opened: datetime, closed: datetime | None = None) -> int:
    case = Case(crm_id=f"500{number}", number=number, priority=priority, platform="webex",
                customer_email="carol@customer.example", engineer_email="ada@support.example",
                created_at=opened, is_closed=closed is not None, closed_at=closed)  # fmt: skip
    s.add(case)
    s.commit()
    assert case.id is not None
    return case.id


def person(s: Session, case_id: int, email: str, role: str, status: str) -> None:
    s.add(Participant(case_id=case_id, email=email, role=role, status=status, updated_at=T))


def shuffled_record(s: Session, case_id: int, events: list[tuple[Kind, datetime, dict[str, Any]]]) -> None:
    """Record in a random order: figures must not depend on insertion order, only on the times."""
    rows = list(events)
    random.Random(7).shuffle(rows)
    for kind, when, extra in rows:
        timeline.record(s, case_id, kind, extra.pop("text", ""), at=when, actor_email=extra.pop("actor", None),
                        data=extra)  # fmt: skip
    s.commit()


@pytest.fixture
def known(db_url: str, state_file: Path) -> Any:
    rt, _ = runtime(db_url, state_file, CASEROOM_ADMIN_TOKEN=TOKEN)
    with rt.db.session() as s:
        # A: P1, week 47. Room ready after 2 min; both in by 09:01:40; customer 09:10, engineer 09:30; one
        # handoff; closed a day later. Three people were in the room (a bot and a refusal do not count).
        a = make_case(s, "A1", "P1", at(), closed=at(days=1))
        shuffled_record(s, a, [
            (Kind.CASE, at(), {"type": "case.opened"}),
            (Kind.INVITE, at(minutes=1, seconds=30), {"email": "carol@customer.example", "outcome": "added"}),
            (Kind.INVITE, at(minutes=1, seconds=40), {"email": "ada@support.example", "outcome": "added"}),
            (Kind.STATE, at(minutes=2), {"to": "open"}),
            (Kind.MESSAGE, at(minutes=10), {"actor": "carol@customer.example"}),
            (Kind.MESSAGE, at(minutes=30), {"actor": "ada@support.example"}),
            (Kind.HANDOFF, at(hours=3), {"from": "ada@support.example", "to": "kenji@support.example"}),
            (Kind.MESSAGE, at(hours=3, minutes=5), {"actor": "kenji@support.example"}),
            (Kind.CASE, at(days=1), {"type": "case.closed"}),
        ])  # fmt: skip
        for email, role, status in [("carol@customer.example", "customer", "removed"),
                                    ("ada@support.example", "engineer", "removed"),
                                    ("kenji@support.example", "engineer", "removed"),
                                    ("caseroom@bot.example", "bot", "added"),
                                    ("x@refused.example", "member", "refused")]:  # fmt: skip
            person(s, a, email, role, status)
        s.add(CaseFile(case_id=a, platform_file_id="f1", name="a.pcap", crm_ref="c1", uploaded_at=at(minutes=12)))
        s.add(CaseFile(case_id=a, platform_file_id="f2", name="b.log", uploaded_at=at(minutes=13)))

        # B: P1, week 47, still open. The customer was only *invited* at first (no presence) and joined at
        # 10:20; the engineer replied at 10:10, the customer at 10:40: first contact is 10:40.
        b = make_case(s, "B2", "P1", at(days=2, hours=1))
        shuffled_record(s, b, [
            (Kind.CASE, at(days=2, hours=1), {"type": "case.opened"}),
            (Kind.INVITE, at(days=2, hours=1, minutes=4), {"email": "carol@customer.example", "outcome": "invited"}),
            (Kind.INVITE, at(days=2, hours=1, minutes=4), {"email": "ada@support.example", "outcome": "added"}),
            (Kind.STATE, at(days=2, hours=1, minutes=5), {"to": "open"}),
            (Kind.MESSAGE, at(days=2, hours=1, minutes=10), {"actor": "ada@support.example"}),
            (Kind.JOIN, at(days=2, hours=1, minutes=20), {"actor": "carol@customer.example"}),
            (Kind.MESSAGE, at(days=2, hours=1, minutes=40), {"actor": "carol@customer.example"}),
        ])  # fmt: skip
        person(s, b, "carol@customer.example", "customer", "joined")
        person(s, b, "ada@support.example", "engineer", "added")

        # C: P2, week 48. Nobody spoke; resolved in two hours.
        c = make_case(s, "C3", "P2", at(days=7, hours=-1), closed=at(days=7, hours=1))
        shuffled_record(s, c, [
            (Kind.CASE, at(days=7, hours=-1), {"type": "case.opened"}),
            (Kind.STATE, at(days=7, hours=-1, minutes=1), {"to": "open"}),
            (Kind.CASE, at(days=7, hours=1), {"type": "case.closed"}),
        ])  # fmt: skip
        person(s, c, "carol@customer.example", "customer", "added")
        person(s, c, "ada@support.example", "engineer", "refused")
        s.add(CaseFile(case_id=c, platform_file_id="f3", name="c.txt", uploaded_at=at(days=7)))
        s.commit()
    yield rt
    rt.stop()


def stat(group: figures.Group, key: str) -> tuple[int, float | None, float | None]:
    st = group.stats[key]
    return st.n, st.median, st.p90


def test_per_case_values_come_from_the_timeline_times(known: Any) -> None:
    with known.db.session() as s:
        rows = {r.number: r for r in figures.load(s)}
    assert rows["A1"].values == {
        "room_ready": 120.0, "first_contact": 1800.0, "first_engineer_reply": 1800.0, "resolution": 86400.0,
        "participants": 3.0, "files": 2.0, "handoffs": 1.0,
    }  # fmt: skip
    assert rows["B2"].values == {
        "room_ready": 300.0, "first_contact": 2400.0, "first_engineer_reply": 600.0, "resolution": None,
        "participants": 2.0, "files": 0.0, "handoffs": 0.0,
    }  # fmt: skip
    assert rows["C3"].values == {
        "room_ready": 60.0, "first_contact": None, "first_engineer_reply": None, "resolution": 7200.0,
        "participants": 1.0, "files": 1.0, "handoffs": 0.0,
    }  # fmt: skip
    assert [rows[n].week for n in ("A1", "B2", "C3")] == ["2026-W47", "2026-W47", "2026-W48"]


def test_medians_and_p90_per_week_and_per_priority(known: Any) -> None:
    with known.db.session() as s:
        rows = figures.load(s)
    weeks = {g.key: g for g in figures.by_week(rows)}
    assert list(weeks) == ["2026-W47", "2026-W48"]
    w47 = weeks["2026-W47"]
    assert w47.cases == 2
    assert stat(w47, "room_ready") == (2, 210.0, 300.0)
    assert stat(w47, "first_contact") == (2, 2100.0, 2400.0)
    assert stat(w47, "first_engineer_reply") == (2, 1200.0, 1800.0)
    assert stat(w47, "resolution") == (1, 86400.0, 86400.0)  # the open case does not count
    assert stat(w47, "participants") == (2, 2.5, 3.0)
    assert stat(w47, "handoffs") == (2, 0.5, 1.0)
    assert stat(weeks["2026-W48"], "first_contact") == (0, None, None)
    assert stat(weeks["2026-W48"], "resolution") == (1, 7200.0, 7200.0)

    prios = {g.key: g for g in figures.by_priority(rows)}
    assert stat(prios["P1"], "room_ready") == stat(w47, "room_ready")
    assert stat(prios["P2"], "files") == (1, 1.0, 1.0)
    everything = figures.overall(rows)
    assert stat(everything, "room_ready") == (3, 120.0, 300.0)
    assert stat(everything, "resolution") == (2, 46800.0, 86400.0)  # (1 d + 2 h) / 2


def test_since_keeps_only_cases_opened_from_then(known: Any) -> None:
    with known.db.session() as s:
        assert [r.number for r in figures.load(s, since=at(days=1))] == ["B2", "C3"]


def test_percentiles_are_nearest_rank() -> None:
    tens = [float(v) for v in range(10, 101, 10)]
    assert figures.median(tens) == 55.0 and figures.p90(tens) == 90.0
    assert figures.p90([float(v) for v in range(1, 21)]) == 18.0
    assert figures.p90([5.0]) == 5.0 and figures.p90([]) is None and figures.median([]) is None
    assert figures.human(3725, "s") == "1 h 02 min" and figures.human(90061, "s") == "1 d 1 h"
    assert figures.human(2.5, "") == "2.5" and figures.human(None, "s") == "n/a"


def test_figures_from_cases_driven_through_the_crm_webhook(db_url: str, state_file: Path) -> None:
    """Resolution and handoffs from events with fixed occurred_at, whatever the wall clock did meanwhile."""
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    for event in (
        case_event("e1", occurred_at="2026-11-22T18:00:00Z"),
        case_event("e2", "case.updated", occurred_at="2026-11-22T19:00:00Z", engineer="kenji@support.example"),
        case_event("e3", "case.closed", occurred_at="2026-11-22T20:30:00Z", engineer="kenji@support.example",
                   status="Closed"),
    ):  # fmt: skip
        body = encode(event)
        assert client.post("/webhooks/crm", content=body, headers=signed_headers(body)).status_code == 200
        rt.worker().drain()
    with rt.db.session() as s:
        (row,) = figures.load(s)
    assert row.week == "2026-W47" and row.priority == "P2"
    assert row.values["resolution"] == 9000.0
    assert row.values["handoffs"] == 1.0
    assert row.values["participants"] == 3.0  # customer, Ada and Kenji, all removed at closure
    assert row.values["room_ready"] is not None

    # The closure stored them: the page reads that row, not the case's timeline (gone here, the figures stay).
    with rt.db.session() as s:
        (kept,) = s.exec(select(ClosedCaseFigures)).all()
        assert (kept.case_id, kept.opened_at, kept.resolution, kept.handoffs) == (row.case_id, row.opened_at,
                                                                                 9000.0, 1.0)  # fmt: skip
        s.execute(delete(TimelineEvent))
        s.commit()
        assert figures.load(s) == [row]
    rt.stop()


def test_db_upgrade_stores_the_figures_of_cases_closed_before_they_were_kept(known: Any, db_url: str,
                                                                            tmp_path: Path) -> None:  # fmt: skip
    with known.db.session() as s:
        computed = figures.load(s)  # A1 and C3 are closed without stored figures, as an older release left them
        assert s.exec(select(ClosedCaseFigures)).all() == []
    done = caseroom(tmp_path, db_url, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "figures of closed cases: 2 of 2 stored" in done.stdout
    with known.db.session() as s:
        stored = s.exec(select(Case.number).join(ClosedCaseFigures)).all()
        assert sorted(stored) == ["A1", "C3"]  # B2 is open: its figures are still moving
        assert figures.load(s) == computed
    again = caseroom(tmp_path, db_url, "db", "upgrade")
    assert again.returncode == 0 and "figures of closed cases" not in again.stdout


def test_the_figures_page_shows_the_known_values_and_a_chart(known: Any) -> None:
    known.services.clock = lambda: at(days=8)
    client = TestClient(known.app)
    client.post("/admin/login", data={"token": TOKEN, "next": "/admin"})
    page = client.get("/admin/figures?weeks=4&metric=room_ready")
    assert page.status_code == 200
    assert "<svg" in page.text and 'role="img"' in page.text and "Time to room ready" in page.text
    assert "3 min 30 s / 5 min 00 s (n=2)" in page.text  # week 47's room ready: median 210 s, p90 300 s
    assert "2026-W48" in page.text and "P2" in page.text
