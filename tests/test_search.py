"""Search across cases, similar resolved cases on open, and the newcomer's summary — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command as alembic
from sqlalchemy import text

from bot import schema, search
from bot.db import Database
from bot.runtime import Runtime
from bot.summary import MAX_LINES
from integrations.messaging import FileRef
from tests.doubles import SharedState
from tests.knowledge_world import ADA, CAROL, Tick, command, deliver, room_event
from tests.support import case_event, runtime

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def open_case(rt: Runtime, number: str, subject: str, description: str = "Since Monday.") -> None:
    event = case_event(f"open-{number}", number=number, subject=subject, occurred_at="2026-11-20T09:00:00Z")
    event["case"]["description"] = description
    deliver(rt, event)


def close_case(rt: Runtime, number: str, subject: str) -> None:
    deliver(rt, case_event(f"close-{number}", "case.closed", number=number, subject=subject, status="Closed",
                           occurred_at="2026-11-21T09:00:00Z"))  # fmt: skip


def say(rt: Runtime, number: str, event_id: str, words: str, at: datetime = T0) -> None:
    room_event(rt, "message", event_id, at, ADA, text=words, message_id=event_id, room_id=f"room-{number}")


def posts(state_file: Path, room_id: str) -> list[str]:
    return [c["text"] for c in SharedState(state_file).calls("post") if c["room_id"] == room_id]


def world(db_url: str, state_file: Path) -> Runtime:
    """Two resolved cases (one about the VPN, one about a printer) and an open one about the VPN."""
    rt, _ = runtime(db_url, state_file)
    rt.services.clock = Tick(T0)
    open_case(rt, "00000001", "VPN tunnel drops every hour", "The laptop VPN disconnects hourly.")
    say(rt, "00000001", "a1", "Could you send a capture?")
    say(rt, "00000001", "a2", "Lowering the MTU to 1400 fixed the flapping tunnel; zanzibar firmware bug.")
    close_case(rt, "00000001", "VPN tunnel drops every hour")
    open_case(rt, "00000002", "Printer jams on tray 2", "Paper jam.")
    say(rt, "00000002", "b1", "Replaced the roller.")
    close_case(rt, "00000002", "Printer jams on tray 2")
    open_case(rt, "00000003", "VPN keeps dropping", "Our VPN tunnel drops since the upgrade.")
    return rt


def test_search_finds_a_closed_case_by_a_word_only_one_of_its_messages_had(db_url: str, state_file: Path) -> None:
    rt = world(db_url, state_file)
    answer = command(rt, state_file, "search zanzibar", ADA, T0, room_id="room-00000003")
    assert answer.startswith('Cases matching "zanzibar":')
    assert "1. Case 00000001: VPN tunnel drops every hour (resolved) https://caseroom.example/rooms/00000001" in answer
    assert "[zanzibar]" in answer and "00000002" not in answer
    # Word forms count ("flap" -> "flapping"), every word must appear, and the asking case is left out.
    assert "00000001" in command(rt, state_file, "search flap MTU", ADA, T0, room_id="room-00000003")
    assert command(rt, state_file, "search zanzibar roller", ADA, T0, room_id="room-00000003").startswith("No other")
    dropping = command(rt, state_file, "search dropping", ADA, T0, room_id="room-00000003")
    assert "Case 00000001" in dropping and "Case 00000003" not in dropping
    # Other cases hold other customers' words: the customer in the room may not search them.
    refused = command(rt, state_file, "search zanzibar", CAROL, T0, room_id="room-00000003")
    assert refused == "Sorry, /case search is for the case's engineers."


def test_query_syntax_in_the_words_is_plain_text(db_url: str, state_file: Path) -> None:
    rt = world(db_url, state_file)
    for hostile in ['"zanzibar', "zanzibar OR NEAR(", "text:zanzibar*", "zanzibar & !mtu | (", "zanzibar'); --"]:
        answer = command(rt, state_file, f"search {hostile}", ADA, T0, room_id="room-00000003")
        assert answer.startswith(("Cases matching", "No other case")), (hostile, answer)
    assert "Give at least one word" in command(rt, state_file, "search ?!", ADA, T0, room_id="room-00000003")


def test_a_deleted_message_is_not_offered_to_other_cases(db_url: str, state_file: Path) -> None:
    rt = world(db_url, state_file)
    open_case(rt, "00000004", "Secrets", "")
    say(rt, "00000004", "d1", "the password is quetzalcoatl")
    room_event(rt, "message_deleted", "d1-del", T0 + timedelta(minutes=1), ADA, message_id="d1",
               room_id="room-00000004")  # fmt: skip
    assert command(rt, state_file, "search quetzalcoatl", ADA, T0, room_id="room-00000003").startswith("No other")


def test_similar_resolved_cases_are_posted_once_when_a_room_opens(db_url: str, state_file: Path) -> None:
    rt = world(db_url, state_file)
    similar = [t for t in posts(state_file, "room-00000003") if t.startswith("Similar resolved cases:")]
    assert len(similar) == 1
    # The customer is in the room: it names the cases, not what other customers said in them ...
    assert "00000001 (https://caseroom.example/rooms/00000001)" in similar[0]
    assert "00000002" not in similar[0] and "VPN" not in similar[0] and "[" not in similar[0]
    # ... which the engineers find on the CRM case, as an internal comment.
    notes = [c["text"] for c in SharedState(state_file).calls("crm.add_comment") if "similar" in c["text"]]
    assert len(notes) == 1 and notes[0].startswith("CaseRoom: similar resolved cases")
    assert "1. Case 00000001: VPN tunnel drops every hour (resolved) https://caseroom.example/rooms/00000001" in (
        notes[0]
    )
    assert "[tunnel]" in notes[0] or "[drops]" in notes[0]
    # Later events for the same case ensure the room again; the suggestion is not repeated.
    deliver(rt, case_event("upd-3", "case.updated", number="00000003", subject="VPN keeps dropping",
                           occurred_at="2026-11-22T09:00:00Z"))  # fmt: skip
    assert len([t for t in posts(state_file, "room-00000003") if t.startswith("Similar")]) == 1
    # Nothing resolved resembles the first case of all: no post at all.
    assert not [t for t in posts(state_file, "room-00000001") if t.startswith("Similar")]


def test_similar_lists_at_most_three(db: Database) -> None:
    with db.session() as s:
        for i in range(6):
            s.execute(text("INSERT INTO cases (crm_id, number, subject, description, status, priority, platform, "
                           "is_closed, created_at) VALUES (:c, :n, 'Outlook crashes on start', 'outlook crash', "
                           "'Closed', '', 'webex', true, :t)"), {"c": f"c{i}", "n": f"n{i}", "t": T0})  # fmt: skip
        s.commit()
        hits = search.similar(s, -1, "Outlook crashes", "when it starts")
    assert len(hits) == 3 and all(h.is_closed for h in hits)


def test_the_index_is_built_for_a_database_that_predates_it(tmp_path: Path, state_file: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    rt = world(url, state_file)
    rt.stop()
    db = Database(url)
    with db.engine.begin() as conn:  # back to the schema of before search: no index, no triggers
        alembic.downgrade(schema._config(conn), "0001")
        assert not conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name LIKE 'timeline_fts%'").all()
    schema.upgrade(db)
    with db.session() as s:
        assert [h.number for h in search.search(s, "zanzibar")] == ["00000001"]
    db.dispose()


def test_summary_brings_a_newcomer_up_to_speed_in_forty_lines(db_url: str, state_file: Path) -> None:
    rt = world(db_url, state_file)
    room = "room-00000003"
    for i in range(30):
        say(rt, "00000003", f"c{i}", f"message number {i} " + "word " * 60, T0 + timedelta(minutes=i))
    for i in range(8):
        room_event(rt, "file", f"f{i}", T0 + timedelta(minutes=40 + i), CAROL,
                   files=(FileRef(f"file{i}", f"log{i}.txt", 1000 * i, "text/plain"),), room_id=room)  # fmt: skip
    for i in range(12):
        command(rt, state_file, f"invite person{i}@customer.example", CAROL, T0, room_id=room)
        command(rt, state_file, f"note step {i} done", ADA, T0, room_id=room)
    brief = command(rt, state_file, "summary", ADA, T0, room_id=room)
    lines = brief.splitlines()
    assert len(lines) <= MAX_LINES, brief
    assert lines[0] == "Case 00000003: VPN keeps dropping"
    assert "Problem: Our VPN tunnel drops since the upgrade." in brief
    assert "Ada <ada@support.example>: engineer" in lines[lines.index("People (14):") + 1]
    assert "… and 8 more (/case status)" in brief and "Files (8):" in brief and "… and 4 more (/case files)" in brief
    assert "[note] step 11 done" in brief
    assert "[note]" not in command(rt, state_file, "summary", CAROL, T0, room_id=room)  # internal notes: engineers
    assert "Last exchanges (6 of 30 messages):" in brief and "message number 29" in brief
    assert "Full transcript: https://caseroom.example/cases/00000003/transcript" in brief
    assert all(len(line) <= 200 for line in lines)
