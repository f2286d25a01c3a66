"""A running CaseRoom wired to the Webex emulator over real HTTP, for end-to-end tests of the adapter."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.webex import WebexEmulator

from bot.events import WEBHOOK_CRM
from bot.runtime import Runtime
from integrations.webex.client import api
from integrations.webex.plugin import plugin as webex_plugin
from integrations.webex.settings import WebexSettings
from integrations.webex.setup import sync
from tests.doubles import FakeCRM, SharedState
from tests.support import case_event, encode, settings, settle, signed_headers

WEBHOOK_SECRET = "webex-test-secret"


@dataclass
class WebexWorld:
    emu: WebexEmulator
    emu_url: str
    rt: Runtime
    url: str
    crm: FakeCRM
    state: SharedState

    def deliver(self, **event: Any) -> httpx.Response:
        body = encode(case_event(**event))
        return httpx.post(f"{self.url}/webhooks/crm", content=body, headers=signed_headers(body))

    def act(self, path: str, **body: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.emu_url}/_sandbox/{path}", json=body, timeout=10)
        r.raise_for_status()
        return r.json() if r.content else {}

    def room(self, title_prefix: str = "Case 00001234") -> dict[str, Any]:
        rooms = [r for r in self.emu.snapshot()["rooms"] if r["title"].startswith(title_prefix)]
        assert len(rooms) == 1, rooms
        return rooms[0]

    def messages(self, room_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = httpx.get(f"{self.emu_url}/_sandbox/rooms/{room_id}/messages").json()["items"]
        return items

    def texts(self, room_id: str) -> list[str]:
        return [m.get("text") or "" for m in self.messages(room_id)]

    def settle(self, until: Callable[[], bool] = lambda: True, timeout: float = 20.0, idle: bool = True) -> None:
        """Wait until webhooks are delivered, ``until`` holds and (with ``idle``) no job is waiting."""
        settle(self.emu.flush, self.rt.queue, until, timeout, idle)


@contextmanager
def webex_world(tmp_path: Path, *, observer: bool = True, workers: int = 2, plugins: tuple[Any, ...] = (),
                fake_crm: bool = True, sock: socket.socket | None = None,
                **overrides: Any) -> Iterator[WebexWorld]:  # fmt: skip
    """``plugins`` beside Webex's; without ``fake_crm`` the webhook's cases go to whatever CRM they configure;
    ``sock``: CaseRoom's listening socket, bound beforehand when its URL must be known before it starts."""
    emu = WebexEmulator(seed=7, observer_email="observer@sandbox.example" if observer else None)
    emu_server = ServerThread(emu.app).start()
    for email, name in [("ada@support.example", "Ada Lovelace"), ("kenji@support.example", "Kenji Sato")]:
        emu.add_person(email, name)
    values: dict[str, Any] = {
        "WEBEX_BASE_URL": f"{emu_server.url}/v1/",
        "WEBEX_ACCESS_TOKEN": emu.bot_token,
        "WEBEX_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WEBEX_OBSERVER_TOKEN": emu.observer_token if observer else None,
        "CASEROOM_WORKERS": workers,
        "CASEROOM_JOB_MAX_ATTEMPTS": 20,
        **overrides,
    }
    state = SharedState(tmp_path / "crm.json")
    crm = FakeCRM(state)
    rt = Runtime(settings(f"sqlite:///{tmp_path / 'caseroom.db'}", **values), plugins=[webex_plugin, *plugins],
                 crms={WEBHOOK_CRM: crm} if fake_crm else {})  # fmt: skip
    server = ServerThread(rt.app, sock=sock).start()
    base_url = rt.settings.section(WebexSettings).base_url
    clients = {"bot": api(emu.bot_token, base_url)}
    if observer and emu.observer_token:
        clients["observer"] = api(emu.observer_token, base_url)
    sync(clients, f"{server.url}/webhooks/webex", WEBHOOK_SECRET)
    rt.start_background(scheduler=False)
    try:
        yield WebexWorld(emu, emu_server.url, rt, server.url, crm, state)
    finally:
        rt.stop()
        server.stop()
        emu_server.stop()
