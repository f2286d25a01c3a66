"""The /case command framework: help, status, usage errors and permissions, answered in the room."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.commands import NOT_IN_ROOM, Invocation, Registry, Reply, parse
from bot.models import Role, utcnow
from bot.runtime import Runtime
from tests.command_world import ADA, CAROL, ask, open_case
from tests.doubles import SharedState


@pytest.fixture
def opened(tmp_path: Path, state_file: Path) -> Runtime:
    return open_case(tmp_path, state_file)


def test_help_lists_every_command_and_explains_one(opened: Runtime, state_file: Path) -> None:
    listing = ask(opened, state_file, "/case help", "carol@customer.example")
    assert "/case help [command]" in listing and "/case status" in listing
    detail = ask(opened, state_file, "help status", "carol@customer.example")
    assert detail.startswith("/case status") and "anyone in the room" in detail
    assert "There is no command 'frobnicate'" in ask(opened, state_file, "help frobnicate", "ada@support.example")
    assert "Usage: /case help [command]" in ask(opened, state_file, "help a b", "ada@support.example")
    # A bare "/case" is help.
    assert "Commands" in ask(opened, state_file, "/case", "ada@support.example")


def test_status_shows_the_case_room_and_people(opened: Runtime, state_file: Path) -> None:
    text = ask(opened, state_file, "status", "ada@support.example")
    assert "Case 00001234: VPN drops every hour" in text
    assert "Room: open on webex" in text
    assert "Engineer: Ada" in text
    assert "People: 2" in text


def test_strangers_are_refused_and_unknown_commands_explained(opened: Runtime, state_file: Path) -> None:
    assert ask(opened, state_file, "status", "mallory@evil.example", "u9") == NOT_IN_ROOM
    assert "Unknown command 'launch'" in ask(opened, state_file, "launch rockets", "ada@support.example")


def test_commands_are_recorded_on_the_timeline(opened: Runtime, state_file: Path) -> None:
    ask(opened, state_file, "status", "ada@support.example")
    from bot import timeline

    with opened.db.session() as s:
        kinds = [(e.kind, e.text, e.actor_email) for e in timeline.events(s, 1)]
    assert (timeline.Kind.COMMAND, "/case status", "ada@support.example") in kinds


def test_engineer_only_commands_refuse_customers() -> None:
    reg = Registry()

    @reg.command("secret", usage="/case secret", summary="engineers only", who="engineer")
    def secret(_inv: object) -> Reply:
        return Reply("the answer")

    def run(role: Role | None) -> str:
        return reg.run(Invocation(None, None, None, None, role, "secret")).text  # type: ignore[arg-type]

    assert run(Role.CUSTOMER) == "Sorry, /case secret is for the case's engineers."
    assert run(Role.MEMBER).startswith("Sorry")
    assert run(None) == NOT_IN_ROOM
    assert run(Role.ENGINEER) == "the answer"
    with pytest.raises(ValueError, match="registered twice"):
        reg.command("secret", usage="x", summary="y", who="members")(secret)


def test_parse_handles_prefix_quotes_and_unbalanced_quotes() -> None:
    assert parse("/case invite a@b.example") == ("invite", ["a@b.example"], "a@b.example")
    assert parse("NOTE \"two words\" three") == ("note", ["two words", "three"], '"two words" three')
    assert parse("note it's fine") == ("note", ["it's", "fine"], "it's fine")
    assert parse("   ") == ("help", [], "")


def test_the_customer_invites_a_colleague_but_not_an_outsider(
    opened: Runtime, state_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    state = SharedState(state_file)
    added = ask(opened, state_file, "invite dave@customer.example", CAROL)
    assert added == "Carol added dave@customer.example to the room."
    assert state.read()["rooms"]["00001234"]["members"].get("dave@customer.example")
    refused = ask(opened, state_file, "invite eve@rival.example", CAROL)
    assert refused.startswith("Sorry, customers may invite addresses of customer.example only")
    assert "eve@rival.example" not in state.read()["rooms"]["00001234"]["members"]
    # Engineers may invite anyone; a platform refusal is told in the room, not swallowed.
    assert "added frank@rival.example" in ask(opened, state_file, "invite frank@rival.example", ADA)
    answer = ask(opened, state_file, "invite gone@refused.example", ADA)
    assert "could not be added" in answer
    assert any("Could not add gone@refused.example" in c["text"] for c in state.calls("post"))
    told = [(r.levelname, r.getMessage()) for r in caplog.records if getattr(r, "case", None) == "00001234"]
    assert ("INFO", "member dave@customer.example added on webex") in told, told
    assert [m for level, m in told if level == "WARNING" and m.startswith("member gone@refused.example refused by")]


def test_invite_and_remove_answer_bad_arguments_with_their_usage(opened: Runtime, state_file: Path) -> None:
    assert ask(opened, state_file, "invite", ADA) == "Usage: /case invite <email> [<email> ...] [--email]"
    assert ask(opened, state_file, "invite not-an-address", ADA).startswith("Not an e-mail address: not-an-address.")
    assert ask(opened, state_file, "remove", ADA) == "Usage: /case remove <email>"
    assert ask(opened, state_file, "timeline lots", ADA).startswith("'lots' is not a number.\nUsage:")


def test_only_engineers_remove_and_the_customer_contact_stays(opened: Runtime, state_file: Path) -> None:
    ask(opened, state_file, "invite dave@customer.example", CAROL)
    assert ask(opened, state_file, "remove dave@customer.example", CAROL).startswith("Sorry, /case remove is for")
    assert ask(opened, state_file, f"remove {CAROL}", ADA).startswith("Sorry, carol@customer.example is the customer")
    removed = ask(opened, state_file, "remove dave@customer.example", ADA)
    assert removed == "Ada removed dave@customer.example from the room."
    assert "dave@customer.example" not in SharedState(state_file).read()["rooms"]["00001234"]["members"]


def test_strangers_cannot_invite(opened: Runtime, state_file: Path) -> None:
    assert ask(opened, state_file, "invite x@evil.example", "mallory@evil.example", "u9").startswith("Sorry")


def test_files_lists_uploads_and_note_lands_on_the_crm_case(opened: Runtime, state_file: Path) -> None:
    from bot.events import Actor, RoomEvent
    from handlers import room_events
    from integrations.messaging import FileRef

    upload = RoomEvent("webex", "room-00001234", "file", "up1", utcnow(), Actor("u2", CAROL, "Carol"),
                       files=(FileRef("f1", "report.pcap", 2_300_000, "application/vnd.tcpdump.pcap"),))
    opened.queue.submit(room_events.KIND, upload.to_payload())
    opened.worker().drain()
    listing = ask(opened, state_file, "files", CAROL)
    assert "report.pcap (2.3 MB) by carol@customer.example" in listing
    assert "filed on the case as file-report.pcap" in listing

    confirmed = ask(opened, state_file, "note customer confirmed the MTU fix", ADA)
    assert confirmed == "Note added to case 00001234 in the CRM."
    comments = [c["text"] for c in SharedState(state_file).calls("crm.add_comment")]
    assert "Note from Ada (CaseRoom): customer confirmed the MTU fix" in comments
    assert ask(opened, state_file, "note secret", CAROL).startswith("Sorry, /case note is for the case's engineers")
    recent = ask(opened, state_file, "timeline 3", ADA)
    assert "[note] Ada: customer confirmed the MTU fix" in recent and "UTC" in recent
