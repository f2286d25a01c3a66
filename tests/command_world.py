"""A case opened through the signed CRM webhook on the recording doubles, and `/case ...` asked in its room."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from bot.events import Actor, CommandRequest
from bot.models import utcnow
from bot.runtime import Runtime
from handlers import command_requests
from tests.doubles import SharedState
from tests.support import case_event, encode, runtime, signed_headers

CAROL, ADA = "carol@customer.example", "ada@support.example"  # the case's customer and engineer


def open_case(tmp_path: Path, state_file: Path) -> Runtime:
    rt, _ = runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", state_file)
    body = encode(case_event())
    TestClient(rt.app).post("/webhooks/crm", content=body, headers=signed_headers(body))
    rt.worker().drain()
    return rt


def ask(rt: Runtime, state_file: Path, text: str, email: str, user_id: str = "u1") -> str:
    """Run a command as ``email``; return the answer, whether private or posted for everyone."""
    state = SharedState(state_file)
    seen = len(state.calls())
    req = CommandRequest("webex", "room-00001234", Actor(user_id, email, email.split("@")[0].title()), text, utcnow())
    rt.queue.submit(command_requests.KIND, req.to_payload())
    rt.worker().drain()
    answers = [c for c in state.calls()[seen:] if c["method"] in ("reply_private", "post")]
    assert answers, "the command was not answered"
    private = [c for c in answers if c["method"] == "reply_private"]
    assert all(c["user_id"] == user_id for c in private)
    text_: str = answers[-1]["text"]
    return text_
