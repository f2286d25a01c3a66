"""The hot queries read through an index, never a whole table: the purge's three ranges, a case's timeline, a
room's case, the job claim. Each statement the code actually sends is captured and explained by the database
itself (PostgreSQL with sequential scans and sorts priced out, so a plan that still has one has no index to use)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlalchemy.exc import IntegrityError

from bot import cases, figures, maintenance, timeline
from bot.db import Database
from bot.jobs import JobQueue
from bot.models import Case, Room, RoomState, TimelineEvent
from bot.services import Services
from tests.support import runtime, settings

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


@contextmanager
def captured(db: Database) -> Iterator[list[tuple[str, Any]]]:
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)


def plans(db: Database, run: Callable[[], object]) -> list[tuple[str, str]]:
    """Each statement ``run`` sends, beside the database's plan for it."""
    with captured(db) as sent:
        run()
    out = []
    with db.engine.connect() as conn:
        if db.is_postgres:
            conn.exec_driver_sql("SET enable_seqscan = off")  # priced out: a plan that still scans has no index
            conn.exec_driver_sql("SET enable_sort = off")  # likewise a sort: no index gives the order
        for statement, parameters in sent:
            explain = "EXPLAIN " if db.is_postgres else "EXPLAIN QUERY PLAN "
            rows = conn.exec_driver_sql(explain + statement, parameters).all()
            out.append((statement, "\n".join(str(r[-1]) for r in rows)))
        conn.rollback()
    return out


def full_scans(
    db: Database, run: Callable[[], object], *, or_sorts: bool = False, bounded: tuple[str, ...] = ()
) -> list[str]:
    """The statements ``run`` sends that read a whole table (or a whole index), with their plans; ``or_sorts``:
    also those that sort what they read instead of reading it in order. SQLite calls any walk of an index a
    scan: a walk of a ``bounded`` index is none (a partial index holds only what its predicate keeps; one read
    in order under a LIMIT stops there)."""
    whole = ("Seq Scan",) if db.is_postgres else ("SCAN ",)
    if or_sorts:
        whole += ("Sort",) if db.is_postgres else ("USE TEMP B-TREE",)

    def reads_all(line: str) -> bool:
        return line.lstrip(" ->").startswith(whole) and not any(f"INDEX {name}" in line for name in bounded)

    return [f"{statement}\n{plan}" for statement, plan in plans(db, run)
            if any(reads_all(line) for line in plan.splitlines())]  # fmt: skip


@pytest.fixture
def sv(db: Database, db_url: str) -> Services:
    clock = lambda: T0  # noqa: E731
    return Services(settings=settings(db_url), db=db, queue=JobQueue(db, clock=clock), clock=clock)


def open_case(db: Database, number: str, room_id: str | None) -> int:
    with db.session() as s:
        case = Case(crm_id=f"crm-{number}", number=number, platform="webex")
        s.add(case)
        s.flush()
        assert case.id is not None
        s.add(Room(case_id=case.id, platform="webex", room_id=room_id))
        s.commit()
        return case.id


def test_the_hourly_purge_reads_only_what_it_deletes(db: Database, sv: Services) -> None:
    assert full_scans(db, lambda: maintenance.purge(sv)) == []


def test_a_cases_timeline_and_a_rooms_case_are_looked_up_not_searched_for(db: Database) -> None:
    case_id = open_case(db, "00000001", "room-1")

    def reads() -> None:
        with db.session() as s:
            timeline.events(s, case_id)
            assert cases.find_by_room(s, "webex", "room-1") is not None

    assert full_scans(db, reads, or_sorts=True) == []


def test_a_cases_last_entries_are_read_backwards_from_its_index_a_page_at_a_time(db: Database) -> None:
    case_id = open_case(db, "00000001", "room-1")
    with db.session() as s:
        for i in range(130):  # four entries a second: the pages must part entries of one time by their id
            kind = timeline.Kind.MESSAGE if i % 3 == 0 else timeline.Kind.NOTE
            timeline.record(s, case_id, kind, f"entry {i}", at=T0 + timedelta(seconds=i // 4))
        s.commit()

    def readable(e: TimelineEvent) -> bool:  # what SQL cannot judge (a command echo's audience, say)
        return e.kind != "note" and "7" not in e.text

    got: dict[str, list[str]] = {}

    def reads() -> None:
        with db.session() as s:
            got["in SQL"] = [e.text for e in timeline.latest(s, case_id, 20, without={"note"}, keep=readable)]
            got["kept"] = [e.text for e in timeline.latest(s, case_id, 20, keep=readable)]  # three pages of 50
            got["all"] = [e.text for e in timeline.latest(s, case_id, 500)]

    assert full_scans(db, reads, or_sorts=True) == []
    with db.session() as s:
        every = timeline.events(s, case_id)
    expected = [e.text for e in every if readable(e)][-20:]
    assert len(expected) == 20 and got["in SQL"] == expected and got["kept"] == expected
    assert got["all"] == [e.text for e in every] and len(every) == 130


TOKEN = "dashboard-admin-token-123"


def test_the_dashboard_reads_only_the_rooms_and_the_case_it_shows(db: Database, db_url: str, tmp_path: Path) -> None:
    for n in range(1, 4):
        case_id = open_case(db, f"0000000{n}", f"room-{n}")
        with db.session() as s:
            timeline.record(s, case_id, timeline.Kind.MESSAGE, f"hello from case {n}", at=T0 + timedelta(hours=n))
            s.commit()
    with db.session() as s:
        s.execute(update(Room).where(Room.case_id == case_id).values(state=RoomState.CLOSED))  # type: ignore[arg-type]
        s.commit()
    rt, _ = runtime(db_url, tmp_path / "state.json", CASEROOM_ADMIN_TOKEN=TOKEN)
    client = TestClient(rt.app)
    client.post("/admin/login", data={"token": TOKEN, "next": "/admin"}, follow_redirects=False)
    pages: dict[str, str] = {}

    def show(path: str) -> Callable[[], object]:
        def get() -> None:
            answer = client.get(path)
            assert answer.status_code == 200
            pages[path] = answer.text

        return get

    # The open rooms are few, and sorted; every case, newest first, is read backwards up to the page's end.
    assert full_scans(rt.services.db, show("/admin"), bounded=("ix_rooms_not_closed",)) == []
    assert full_scans(rt.services.db, show("/admin?closed=true"), or_sorts=True, bounded=("ix_cases_created_at",)) == []
    assert full_scans(rt.services.db, show("/admin/cases/00000002")) == []
    assert "00000002" in pages["/admin"] and "00000003" not in pages["/admin"]
    assert "00000003" in pages["/admin?closed=true"]
    assert "2026-12-01 11:00" in pages["/admin"]  # case 2's last activity
    assert "hello from case 2" in pages["/admin/cases/00000002"] and "1 events" in pages["/admin/cases/00000002"]
    rt.services.db.dispose()


def test_the_figures_page_reads_stored_figures_and_only_the_open_cases_timelines(db: Database, db_url: str,
                                                                                 tmp_path: Path) -> None:  # fmt: skip
    ids = [open_case(db, f"0000000{n}", f"room-{n}") for n in range(1, 4)]
    with db.session() as s:
        for n, case_id in enumerate(ids, 1):
            timeline.record(s, case_id, timeline.Kind.MESSAGE, f"hello from case {n}", at=T0 + timedelta(hours=n))
        closed = s.get(Case, ids[0])
        assert closed is not None
        closed.is_closed, closed.closed_at = True, T0 + timedelta(days=1)
        figures.store(s, closed, T0 + timedelta(days=1))
        s.commit()
    rt, _ = runtime(db_url, tmp_path / "state.json", CASEROOM_ADMIN_TOKEN=TOKEN)
    client = TestClient(rt.app)
    client.post("/admin/login", data={"token": TOKEN, "next": "/admin"}, follow_redirects=False)
    pages: list[str] = []

    def show() -> None:
        answer = client.get("/admin/figures")
        assert answer.status_code == 200
        pages.append(answer.text)

    assert full_scans(rt.services.db, show) == []
    assert "All 3 cases" in pages[0]
    with captured(rt.services.db) as sent:
        show()
    read = [p for statement, p in sent if "FROM timeline" in statement]
    asked = {v for p in read for v in (p.values() if isinstance(p, dict) else p) if isinstance(v, int)}
    assert asked == set(ids[1:])  # the closed case's figures were stored at its closure: its timeline is not read
    rt.services.db.dispose()


def test_the_job_claim_and_completion_read_through_indexes(db: Database, sv: Services) -> None:
    sv.queue.submit("case.event", {"n": 1}, lane="case:1")
    sv.queue.submit("case.event", {"n": 2}, lane="case:1")

    def work() -> None:
        job = sv.queue.claim("worker-1")
        assert job is not None
        assert sv.queue.complete(job, "worker-1", claim_next=True) is not None

    assert full_scans(db, work) == []


def test_a_platform_room_belongs_to_one_case(db: Database) -> None:
    open_case(db, "00000001", "room-1")
    open_case(db, "00000002", None)
    open_case(db, "00000003", None)  # rooms still opening have no id yet: they do not collide
    with pytest.raises(IntegrityError):
        open_case(db, "00000004", "room-1")
