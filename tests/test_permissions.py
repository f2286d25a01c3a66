"""Who sees and does what: every registered command run as every role, and internal notes kept internal.

The roles: the case's engineer and customer, a member someone invited, a stranger (never in the room) and
someone removed from it. A refusal must change nothing (no platform or CRM call beyond the private answer,
no participant, file or timeline entry beyond the command's own echo).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot import timeline
from bot.commands import ALLOWED, NOT_IN_ROOM
from bot.models import CaseFile, Participant, Role
from bot.runtime import Runtime
from handlers.commands import registry
from tests.command_world import ADA, CAROL, ask, open_case
from tests.doubles import SharedState

DAVE, ERIN, FRANK = "dave@customer.example", "erin@customer.example", "frank@customer.example"
MALLORY = "mallory@customer.example"  # same domain as the customer, never in the room
AS: dict[str, tuple[str, str, Role | None]] = {
    "engineer": (ADA, "u-ada", Role.ENGINEER),
    "customer": (CAROL, "u-carol", Role.CUSTOMER),
    "member": (DAVE, "u-dave", Role.MEMBER),
    "stranger": (MALLORY, "u-mallory", None),
    "removed": (ERIN, "u-erin", None),
}
# One well-formed use of every command: a command registered without one fails the first test below.
EXAMPLES = {
    "help": "help",
    "status": "status",
    "files": "files",
    "note": "note SECRET-PLAN refund the licence",
    "timeline": "timeline 50",
    "summary": "summary",
    "search": "search vpn",
    "invite": "invite zed@customer.example",
    "remove": f"remove {FRANK}",
    "handoff": "handoff kenji@support.example",
}
SECRET = "SECRET-PLAN"


@pytest.fixture
def room(tmp_path: Path, state_file: Path) -> Runtime:
    rt = open_case(tmp_path, state_file)
    for email in (DAVE, ERIN, FRANK):
        assert "added" in ask(rt, state_file, f"invite {email}", ADA, "u-ada")
    assert "removed" in ask(rt, state_file, f"remove {ERIN}", ADA, "u-ada")
    return rt


def observable(rt: Runtime, state_file: Path) -> dict[str, Any]:
    """Everything a command could change, besides answering its asker and echoing itself on the timeline."""
    state = SharedState(state_file)
    with rt.db.session() as s:
        people = sorted((p.email, p.role, p.status) for p in s.exec(select(Participant)).all())
        files = len(s.exec(select(CaseFile)).all())
        events = [(e.kind, e.text) for e in timeline.events(s, 1) if e.kind != timeline.Kind.COMMAND]
    return {
        "calls": [c for c in state.calls() if c["method"] != "reply_private"],
        "members": sorted(state.read()["rooms"]["00001234"]["members"]),
        "people": people,
        "files": files,
        "events": events,
    }


def test_every_registered_command_has_an_example_here() -> None:
    assert {c.name for c in registry().all()} == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_command_as_every_role(room: Runtime, state_file: Path, name: str) -> None:
    spec = room.services.commands.get(name)
    assert spec is not None
    for label, (email, user_id, role) in AS.items():
        before = observable(room, state_file)
        answer = ask(room, state_file, EXAMPLES[name], email, user_id)
        if role is None:
            assert answer == NOT_IN_ROOM, (label, answer)
        elif role not in ALLOWED[spec.who]:
            assert answer.startswith(f"Sorry, /case {name} is for"), (label, answer)
        else:
            assert not answer.startswith("Sorry"), (label, answer)
            continue
        assert observable(room, state_file) == before, f"/case {name} refused to the {label} changed something"
        assert SECRET not in answer and "VPN drops" not in answer, (label, answer)


def test_a_customer_never_reads_an_internal_note(room: Runtime, state_file: Path) -> None:
    assert ask(room, state_file, EXAMPLES["note"], ADA, "u-ada") == "Note added to case 00001234 in the CRM."
    # The engineers read the note and its command; the customer and a member read neither.
    for reader in ("engineer", "customer", "member"):
        email, user_id, _ = AS[reader]
        seen = ask(room, state_file, "timeline 50", email, user_id) + ask(room, state_file, "summary", email, user_id)
        if reader == "engineer":
            assert f"[note] Ada: {SECRET}" in seen and f"/case note {SECRET}" in seen
        else:
            assert SECRET not in seen, seen
            assert f"[invite] {DAVE} added as member" in seen  # what happened in the room stays visible
            assert ("[command] Ada: /case invite" in seen) == (reader == "customer")  # as may run it
    # A note is one entry; the command that made it is an engineers' entry however it is rendered.
    with room.db.session() as s:
        echo = [e for e in timeline.events(s, 1) if e.kind == timeline.Kind.COMMAND and SECRET in e.text]
    assert [e.data["audience"] for e in echo] == ["engineer"]


def test_help_lists_what_the_asker_may_run(room: Runtime, state_file: Path) -> None:
    engineers = ask(room, state_file, "help", ADA, "u-ada")
    customers = ask(room, state_file, "help", CAROL, "u-carol")
    assert "/case note" in engineers and "/case remove" in engineers
    assert "/case note" not in customers and "/case invite" in customers
    assert "/case status" in ask(room, state_file, "help", DAVE, "u-dave")
    # Anyone in the room may still ask what a command is for, and who may run it.
    assert "Who: the case's engineers." in ask(room, state_file, "help note", DAVE, "u-dave")


def test_the_summary_points_only_engineers_at_the_admin_transcript(room: Runtime, state_file: Path) -> None:
    assert "/transcript" in ask(room, state_file, "summary", ADA, "u-ada")
    customers = ask(room, state_file, "summary", CAROL, "u-carol")
    assert "/transcript" not in customers and "More: /case timeline 50" in customers
