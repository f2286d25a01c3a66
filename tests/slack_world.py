"""A running CaseRoom wired to the Slack emulator over real HTTP, for end-to-end tests of the adapter."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.slack import SlackEmulator
from caseroom_sandbox.slack.wire import sign

from bot.events import WEBHOOK_CRM
from bot.runtime import Runtime
from integrations.slack.plugin import plugin as slack_plugin
from tests.doubles import FakeCRM, SharedState
from tests.support import case_event, encode, settings, settle, signed_headers

SIGNING_SECRET = "slack-test-signing-secret"


def slack_signed(body: bytes, *, at: float | None = None, secret: str = SIGNING_SECRET,
                 content_type: str = "application/json") -> dict[str, str]:  # fmt: skip
    """Headers of a request Slack signed (v0 scheme) at ``at`` (default: now, as Bolt checks the wall clock)."""
    ts = str(int(time.time() if at is None else at))
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(secret, ts, body)}
CUSTOMER, ENGINEER = "carol@customer.example", "ada@support.example"
CRM_LINK = "https://crm.example/lightning/r/Case/50000001234/view"


@dataclass
class SlackWorld:
    emu: SlackEmulator
    emu_url: str
    rt: Runtime
    url: str
    crm: FakeCRM
    state: SharedState

    def deliver(self, link: str | None = CRM_LINK, **event: Any) -> httpx.Response:
        ev = case_event(**event)
        ev["case"]["platform"] = "slack"
        if link:
            ev["case"]["link"] = link
        body = encode(ev)
        return httpx.post(f"{self.url}/webhooks/crm", content=body, headers=signed_headers(body), timeout=10)

    def act(self, path: str, **body: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.emu_url}/_sandbox/{path}", json=body, timeout=15)
        r.raise_for_status()
        return r.json() if r.content else {}

    def channels(self, name: str | None = None) -> list[dict[str, Any]]:
        chans: list[dict[str, Any]] = self.emu.snapshot()["channels"]
        return [c for c in chans if name is None or c["name"] == name]

    def channel(self, prefix: str = "case-00001234") -> dict[str, Any]:
        """The one live channel the bot made whose name starts with ``prefix``."""
        bot = self.emu.bot_user_id
        found = [c for c in self.channels()
                 if c["name"].startswith(prefix) and c["creator"] == bot and not c["is_archived"]]  # fmt: skip
        assert len(found) == 1, self.channels()
        return found[0]

    def channel_by_id(self, channel_id: str) -> dict[str, Any]:
        [ch] = [c for c in self.channels() if c["id"] == channel_id]
        return ch

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        return self.emu.channel_messages(channel_id)

    def texts(self, channel_id: str) -> list[str]:
        return [m.get("text") or "" for m in self.messages(channel_id)]

    def settle(self, until: Callable[[], bool] = lambda: True, timeout: float = 20.0, idle: bool = True) -> None:
        """Wait until events are delivered, ``until`` holds and (with ``idle``) no job is waiting."""
        settle(self.emu.flush, self.rt.queue, until, timeout, idle)

    def opened(self) -> dict[str, Any]:
        """Deliver case.opened and wait until the channel is made and its URL written back."""
        assert self.deliver().status_code == 200
        self.settle(lambda: bool(self.state.calls("crm.write_room_url")))
        return self.channel()

    def opened_with_customer(self) -> str:
        """The case's channel, opened, with Carol (the customer) in it: its id."""
        cid = str(self.opened()["id"])
        self.emu.accept_invite(email=CUSTOMER)
        self.settle(lambda: any("carol joined the room" in t for t in self.texts(cid)))
        return cid


@contextmanager
def slack_world(tmp_path: Path, *, connect_enabled: bool = True, workers: int = 2, plugins: Sequence[Any] = (),
                **overrides: Any) -> Iterator[SlackWorld]:  # fmt: skip
    emu = SlackEmulator(signing_secret=SIGNING_SECRET, seed=7, connect_enabled=connect_enabled)
    emu_server = ServerThread(emu.app).start()
    for email, name in [(ENGINEER, "Ada Lovelace"), ("kenji@support.example", "Kenji Sato")]:
        emu.add_user(email, name)
    values: dict[str, Any] = {
        "SLACK_API_URL": f"{emu_server.url}/api/",
        "SLACK_BOT_TOKEN": emu.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_RATE_LIMITS": "",
        "CASEROOM_DEFAULT_PLATFORM": "slack",
        "CASEROOM_WORKERS": workers,
        "CASEROOM_JOB_MAX_ATTEMPTS": 20,
        **overrides,
    }
    state = SharedState(tmp_path / "crm.json")
    crm = FakeCRM(state)
    rt = Runtime(settings(f"sqlite:///{tmp_path / 'caseroom.db'}", **values), plugins=[slack_plugin, *plugins],
                 crms={WEBHOOK_CRM: crm})  # fmt: skip
    server = ServerThread(rt.app).start()
    emu.set_request_urls(events=f"{server.url}/slack/events", commands=f"{server.url}/slack/events")
    rt.start_background(scheduler=False)
    try:
        yield SlackWorld(emu, emu_server.url, rt, server.url, crm, state)
    finally:
        rt.stop()
        server.stop()
        emu_server.stop()
