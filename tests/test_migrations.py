"""The schema upgrades: a database of the release before migrations is adopted intact, processes refuse a schema
that is not theirs, upgrades run one at a time, and the models never drift from the migrations."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Column, Index, MetaData, String
from sqlmodel import SQLModel, col, select

from bot import cases, schema, search, timeline
from bot.db import Database, display_url
from bot.models import CaseFile, CrmWrite, Delivery, Job, JobStatus, Participant, Room
from tests.support import caseroom, runtime

REPO = Path(__file__).resolve().parents[1]
PREVIOUS_RELEASE = "86abc1647af05414dbb889113b1c921ccf3bf27b"  # the last commit made without migrations

# Run by that release's own code (its bot/ package, taken from git): its create_all, its models, its rows.
MAKE_OLD_DATABASE = """
import sys
from datetime import UTC, datetime, timedelta
sys.path.insert(0, sys.argv[1])
from bot.db import Database
from bot.models import Case, CaseFile, Delivery, Job, Participant, Room, TimelineEvent
db = Database(sys.argv[2])
db.create_all()
t0 = datetime(2026, 11, 20, 9, tzinfo=UTC)
with db.session() as s:
    case = Case(crm_id="5000001234", number="00001234", subject="VPN drops every hour", platform="webex",
                status="Working", engineer_email="ada@support.example", customer_email="carol@customer.example",
                created_at=t0, last_event_at=t0)
    s.add(case)
    s.commit()
    steps = {"room_requested": t0.isoformat(), "welcome": t0.isoformat(),
             "handoff:evt_7": (t0 + timedelta(hours=8)).isoformat()}  # a handoff kept only as a step
    s.add(Room(case_id=case.id, platform="webex", room_id="room-1", url="https://caseroom.example/r/00001234",
               name="Case 00001234", state="open", steps=steps))
    s.add(Participant(case_id=case.id, email="ada@support.example", role="engineer", status="added"))
    s.add(Participant(case_id=case.id, email="carol@customer.example", role="customer", status="added"))
    for i, words in enumerate(["the tunnel to zanzibar drops", "restarted the concentrator"]):
        s.add(TimelineEvent(case_id=case.id, at=t0 + timedelta(minutes=i + 1), kind="message",
                            actor_email="carol@customer.example", text=words, source_key=f"msg:{i}"))
    s.add(CaseFile(case_id=case.id, platform_file_id="f1", name="trace.pcap", uploaded_at=t0))
    s.add(Job(kind="room.event", lane="room:webex:room-1", payload={"n": 1}, run_at=t0))
    s.add(Job(kind="maintenance.purge", payload={}, run_at=t0 + timedelta(minutes=1)))  # no lane then
    s.add(Delivery(source="crm", delivery_id="evt_1", payload="{}", received_at=t0))
    s.commit()
"""


def previous_release(tmp_path: Path) -> Path:
    """That release's ``bot/`` package, from this repository's history."""
    have = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
                          capture_output=True, check=False)  # fmt: skip
    if have.returncode != 0:
        pytest.skip(f"commit {PREVIOUS_RELEASE[:7]} (the release before migrations) is not in this clone's history")
    out = tmp_path / "previous-release"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", PREVIOUS_RELEASE, "bot"], capture_output=True,
                             check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def test_a_database_of_the_release_before_migrations_upgrades_with_its_cases_intact(
    db_url: str, tmp_path: Path, state_file: Path
) -> None:
    subprocess.run([sys.executable, "-c", MAKE_OLD_DATABASE, str(previous_release(tmp_path)), db_url], check=True)

    for process in (["serve", "--port", "1"], ["worker"]):
        refused = caseroom(tmp_path, db_url, *process)
        assert refused.returncode == 2, refused
        assert refused.stderr.strip().splitlines() == [
            "caseroom: the database predates schema migrations; run `caseroom db upgrade` to bring it to revision "
            f"{schema.head()}"
        ]
    upgraded = caseroom(tmp_path, db_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded
    assert f"database upgraded from revision none to {schema.head()}" in upgraded.stdout
    assert caseroom(tmp_path, db_url, "db", "status").stdout.strip().splitlines() == [
        f"database {display_url(db_url)}", f"the database schema is current (revision {schema.head()})"
    ]

    rt, _crm = runtime(db_url, state_file)  # starts: the schema is its own now
    try:
        with rt.db.session() as s:
            case = cases.case_by_number(s, "00001234")
            assert case is not None and case.id is not None
            assert (case.subject, case.status, case.engineer_email) == ("VPN drops every hour", "Working",
                                                                        "ada@support.example")  # fmt: skip
            room = s.exec(select(Room).where(Room.case_id == case.id)).one()
            assert (room.room_id, room.state, room.url) == ("room-1", "open", "https://caseroom.example/r/00001234")
            people = s.exec(select(Participant).where(Participant.case_id == case.id)).all()
            assert sorted((p.email, p.role, p.status) for p in people) == [
                ("ada@support.example", "engineer", "added"), ("carol@customer.example", "customer", "added")]
            entries = [(e.kind, e.text) for e in timeline.events(s, case.id)]
            assert entries == [
                ("message", "the tunnel to zanzibar drops"),
                ("message", "restarted the concentrator"),
                ("handoff", "Handed over (recorded before CaseRoom kept the details of a handoff)"),
            ]
            handoff = timeline.keyed(s, case.id, "handoff:evt_7")
            assert handoff is not None and handoff.data["previous_removed"] is True
            filed = s.exec(select(CrmWrite.key).where(CrmWrite.case_id == case.id)).all()
            assert filed == [f"handoff:{handoff.id}#1"]  # its CRM comment is not filed a second time
            assert [h.number for h in search.search(s, "zanzibar")] == ["00001234"]  # the index was built
            assert s.exec(select(CaseFile.name)).all() == ["trace.pcap"]
            assert s.exec(select(Delivery.delivery_id)).all() == ["evt_1"]
            job = s.exec(select(Job).where(Job.kind == "room.event")).one()
            assert (job.kind, job.lane, job.status, job.payload) == ("room.event", "room:webex:room-1",
                                                                     JobStatus.QUEUED, {"n": 1})  # fmt: skip
        # Both queued jobs are claimed, oldest first: the one queued without a lane was given its own.
        claimed = [rt.queue.claim("worker-1"), rt.queue.claim("worker-2")]
        assert [(j.kind, j.status) for j in claimed if j] == [("room.event", JobStatus.RUNNING),
                                                              ("maintenance.purge", JobStatus.RUNNING)]  # fmt: skip
    finally:
        rt.stop()
        rt.db.dispose()


def database_at(tmp_path: Path, revision: str) -> tuple[str, Database]:
    """A SQLite database whose schema is at ``revision`` (migrated to the head, then back)."""
    url = f"sqlite:///{tmp_path / 'caseroom.db'}"
    db = Database(url)
    schema.upgrade(db)
    with db.engine.begin() as conn:
        command.downgrade(schema._config(conn), revision)
    return url, db


def test_a_process_refuses_a_schema_older_or_newer_than_its_code(tmp_path: Path) -> None:
    url, db = database_at(tmp_path, "0002")
    refused = caseroom(tmp_path, url, "worker")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (f"caseroom: the database schema is at revision 0002, this CaseRoom needs "
                                      f"{schema.head()}: run `caseroom db upgrade`")  # fmt: skip
    assert caseroom(tmp_path, url, "db", "status").returncode == 1
    assert caseroom(tmp_path, url, "db", "upgrade").returncode == 0
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")  # written by a later release
    refused = caseroom(tmp_path, url, "serve", "--port", "1")
    assert refused.returncode == 2
    assert "is newer than this CaseRoom knows" in refused.stderr
    db.dispose()


def test_an_upgrade_that_cannot_keep_a_rule_says_what_to_fix_and_changes_nothing(tmp_path: Path) -> None:
    url, db = database_at(tmp_path, "0004")
    with db.engine.begin() as conn:
        at = "'2026-12-01 09:00:00'"
        for n in (1, 2):  # two cases that both claim one Webex space: written before rooms were unique
            conn.exec_driver_sql("INSERT INTO cases (crm_id, number, subject, description, status, priority, "
                                 f"platform, is_closed, created_at) VALUES ('c{n}', '0000000{n}', '', '', '', '', "
                                 f"'webex', 0, {at})")
            conn.exec_driver_sql("INSERT INTO rooms (case_id, platform, room_id, name, state, state_changed_at, steps) "
                                 f"VALUES ({n}, 'webex', 'room-1', '', 'open', {at}, '{{}}')")

    refused = caseroom(tmp_path, url, "db", "upgrade")
    assert refused.returncode == 2, refused
    assert refused.stderr.strip().splitlines() == [
        "caseroom: cannot upgrade to revision 0005: several cases share one platform room: webex room-1 (2 cases). "
        "A room belongs to one case: set room_id to NULL on the rooms rows of the other cases, then run "
        "`caseroom db upgrade` again"
    ]
    assert schema.status(db).current == "0004"
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE rooms SET room_id = NULL WHERE case_id = 2")
    assert caseroom(tmp_path, url, "db", "upgrade").returncode == 0
    assert schema.status(db).up_to_date
    db.dispose()


def test_command_echoes_recorded_without_their_audience_are_given_the_one_their_command_had(tmp_path: Path) -> None:
    from bot.commands import may_read
    from bot.models import Role, TimelineEvent

    url, db = database_at(tmp_path, "0007")
    echoes = ['{"command": "note"}', '{"command": "status"}', '{"command": "frobnicate"}',
              '{"command": "invite", "audience": "participants"}', '{}']  # fmt: skip
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO cases (crm_id, number, subject, description, status, priority, platform, "
                             "is_closed, created_at) VALUES ('c1', '00000001', '', '', '', '', 'webex', 0, "
                             "'2026-12-01 09:00:00')")  # fmt: skip
        for n, data in enumerate(echoes):
            conn.exec_driver_sql("INSERT INTO timeline (case_id, at, kind, text, data) VALUES "
                                 f"(1, '2026-12-01 09:0{n}:00', 'command', '/case ...', '{data}')")  # fmt: skip

    assert caseroom(tmp_path, url, "db", "upgrade").returncode == 0
    with db.session() as s:
        rows = s.exec(select(TimelineEvent).order_by(col(TimelineEvent.id))).all()
    assert [e.data.get("audience") for e in rows] == ["engineer", "members", "members", "participants", "members"]
    # What a customer's /case timeline or summary shows of them: the engineers' note echo stays theirs.
    assert [may_read(Role.CUSTOMER, e) for e in rows] == [False, True, True, True, True]
    db.dispose()

def test_replicas_starting_together_build_the_schema_once(db_url: str) -> None:
    dbs = [Database(db_url) for _ in range(4)]
    start = threading.Barrier(len(dbs))
    failures: list[BaseException] = []

    def boot(db: Database) -> None:
        start.wait()
        try:
            schema.prepare(db)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=boot, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert schema.status(dbs[0]).up_to_date
    assert schema.differences(dbs[0]) == []
    for db in dbs:
        db.dispose()


def test_the_models_and_the_migrations_agree(db_url: str) -> None:
    db = Database(db_url)
    schema.upgrade(db)
    assert schema.differences(db) == []
    db.dispose()


def test_a_model_change_without_its_migration_is_caught(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'caseroom.db'}")
    schema.upgrade(db)
    changed = MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["cases"].append_column(Column("tier", String(32)))
    Index("ix_jobs_kind_run_at", changed.tables["jobs"].c.kind, changed.tables["jobs"].c.run_at)
    found = {(d[0], d[3].name if d[0] == "add_column" else d[1].name) for d in schema.differences(db, changed)}
    assert found == {("add_column", "tier"), ("add_index", "ix_jobs_kind_run_at")}
    db.dispose()
