"""The /case command framework: help, status, usage errors and permissions, answered in the room."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.commands import Invocation, Registry, Reply, parse
from bot.events import Actor, CommandRequest
from bot.models import Role, utcnow
from bot.runtime import Runtime
from handlers import command_requests
from tests.doubles import SharedState
from tests.support import case_event, encode, runtime, signed_headers


@pytest.fixture
def opened(tmp_path: Path, state_file: Path) -> Runtime:
    rt, _ = runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", state_file)
    body = encode(case_event())
    TestClient(rt.app).post("/webhooks/crm", content=body, headers=signed_headers(body))
    rt.worker().drain()
    return rt


def ask(rt: Runtime, state_file: Path, text: str, email: str, user_id: str = "u1") -> str:
    req = CommandRequest("webex", "room-00001234", Actor(user_id, email, email.split("@")[0]), text, utcnow())
    rt.queue.submit(command_requests.KIND, req.to_payload())
    rt.worker().drain()
    replies = SharedState(state_file).calls("reply_private")
    assert replies and replies[-1]["user_id"] == user_id
    text_: str = replies[-1]["text"]
    return text_


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
    assert ask(opened, state_file, "status", "mallory@evil.example", "u9").startswith("Sorry, /case status is for")
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
    assert run(None).startswith("Sorry")
    assert run(Role.ENGINEER) == "the answer"
    with pytest.raises(ValueError, match="registered twice"):
        reg.command("secret", usage="x", summary="y")(secret)


def test_parse_handles_prefix_quotes_and_unbalanced_quotes() -> None:
    assert parse("/case invite a@b.example") == ("invite", ["a@b.example"], "a@b.example")
    assert parse("NOTE \"two words\" three") == ("note", ["two words", "three"], '"two words" three')
    assert parse("note it's fine") == ("note", ["it's", "fine"], "it's fine")
    assert parse("   ") == ("help", [], "")
