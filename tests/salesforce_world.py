"""A running CaseRoom wired to the Salesforce emulator (HTTPS, its own CA) and the Webex emulator.

Both adapters are the real ones, over real HTTP: Outbound Messages arrive at ``/webhooks/salesforce`` from the
emulator's delivery thread, and the case is read and written with simple-salesforce.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from caseroom_sandbox.salesforce import SalesforceEmulator
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.webex import WebexEmulator

from bot.runtime import Runtime
from integrations.salesforce.plugin import plugin as salesforce_plugin
from integrations.webex.client import api
from integrations.webex.plugin import plugin as webex_plugin
from integrations.webex.settings import WebexSettings
from integrations.webex.setup import sync
from tests.support import settings, wait_until

ORG_ID = "00D000000000001EAA"
WEBHOOK_SECRET = "webex-test-secret"
ENGINEERS = {"ada@support.example": ("Ada Lovelace", "Asia/Tokyo"),
             "kenji@support.example": ("Kenji Sato", "Europe/Amsterdam")}  # fmt: skip
CUSTOMER = ("grace@customer.example", "Grace Hopper")


@dataclass
class SalesforceWorld:
    sf: SalesforceEmulator
    webex: WebexEmulator
    rt: Runtime
    url: str
    users: dict[str, str]  # e-mail -> Salesforce User id
    webex_url: str

    def open_case(self, subject: str = "Router drops packets", owner: str | None = "ada@support.example") -> str:
        owner_id = self.users[owner] if owner and owner in self.users else owner
        record = self.sf.open_case(subject, "Since the upgrade", CUSTOMER[0], CUSTOMER[1], owner_id=owner_id)
        return str(record["Id"])

    def case(self, case_id: str) -> dict[str, Any]:
        return dict(self.sf.case_detail(case_id))

    def rooms(self) -> list[dict[str, Any]]:
        return [r for r in self.webex.snapshot()["rooms"] if r["title"].startswith("Case ")]

    def room(self) -> dict[str, Any]:
        rooms = self.rooms()
        assert len(rooms) == 1, rooms
        return rooms[0]

    def members(self, room_id: str) -> list[str]:
        room = next(r for r in self.webex.snapshot()["rooms"] if r["id"] == room_id)
        return sorted(m["email"] for m in room["members"])

    def texts(self, room_id: str) -> list[str]:
        items = httpx.get(f"{self.webex_url}/_sandbox/rooms/{room_id}/messages").json()["items"]
        return [m.get("text") or "" for m in items]

    def webex_act(self, path: str, **body: Any) -> dict[str, Any]:
        r = httpx.post(f"{self.webex_url}/_sandbox/{path}", json=body, timeout=10)
        r.raise_for_status()
        return r.json() if r.content else {}

    def post_soap(self, body: str | bytes) -> httpx.Response:
        return httpx.post(f"{self.url}/webhooks/salesforce", content=body,
                          headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})  # fmt: skip

    def settle(self, until: Callable[[], bool] = lambda: True, timeout: float = 20.0) -> None:
        def settled() -> bool:
            if self.sf.outbound.url:  # with no receiver set, what is pending cannot go anywhere: do not wait on it
                self.sf.flush_outbound(5)
            self.webex.flush(2)
            return self.rt.queue.pending() == 0 and until()

        wait_until(settled, timeout, lambda: f"not settled: queue {self.rt.queue.counts()}")


@contextmanager
def salesforce_world(tmp_path: Path, **overrides: Any) -> Iterator[SalesforceWorld]:
    webex = WebexEmulator(seed=7, observer_email="observer@sandbox.example")
    webex_server = ServerThread(webex.app).start()
    sf = SalesforceEmulator(org_id=ORG_ID, seed=7)
    sf_server = sf.start()
    users = {}
    for email, (name, tz) in ENGINEERS.items():
        webex.add_person(email, name)
        users[email] = sf.add_user(email, name, timezone=tz)
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(sf.tls.bundle_path)
    values: dict[str, Any] = {
        "WEBEX_BASE_URL": f"{webex_server.url}/v1/",
        "WEBEX_ACCESS_TOKEN": webex.bot_token,
        "WEBEX_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WEBEX_OBSERVER_TOKEN": webex.observer_token,
        "SALESFORCE_INSTANCE_URL": sf_server.url,
        "SALESFORCE_ACCESS_TOKEN": sf.access_token,
        "SALESFORCE_ORG_ID": ORG_ID,
        "SALESFORCE_DIGEST_SECONDS": 0,
        "CASEROOM_WORKERS": 2,
        "CASEROOM_JOB_MAX_ATTEMPTS": 20,
        **overrides,
    }
    rt = Runtime(settings(f"sqlite:///{tmp_path / 'caseroom.db'}", **values),
                 plugins=[webex_plugin, salesforce_plugin])  # fmt: skip
    server = ServerThread(rt.app).start()
    base_url = rt.settings.section(WebexSettings).base_url
    clients = {"bot": api(webex.bot_token, base_url), "observer": api(webex.observer_token or "", base_url)}
    sync(clients, f"{server.url}/webhooks/webex", WEBHOOK_SECRET)
    sf.set_outbound_url(f"{server.url}/webhooks/salesforce")
    rt.start_background(scheduler=False)
    try:
        yield SalesforceWorld(sf, webex, rt, server.url, users, webex_server.url)
    finally:
        rt.stop()
        server.stop()
        sf.close()
        webex_server.stop()
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
