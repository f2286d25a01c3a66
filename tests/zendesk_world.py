"""A running CaseRoom wired to the Zendesk emulator and the Webex emulator, both over real HTTP.

Set up as an admin would: `caseroom zendesk setup`'s sync creates the ticket field, the webhook and the trigger in
the emulator first (CaseRoom's socket is bound beforehand, so the webhook's endpoint is known), and CaseRoom starts
with the signing secret and the field id it printed. Tickets then reach CaseRoom as the emulator's signed webhooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caseroom_sandbox.launch import set_up_zendesk
from caseroom_sandbox.server import listen
from caseroom_sandbox.zendesk import ZendeskEmulator

from integrations.zendesk import setup
from integrations.zendesk.plugin import plugin as zendesk_plugin
from tests.support import settle
from tests.webex_world import WebexWorld, webex_world

ENGINEERS = {"ada@support.example": ("Ada Lovelace", "Asia/Tokyo"),
             "kenji@support.example": ("Kenji Sato", "Europe/Amsterdam")}  # fmt: skip
CUSTOMER = ("carol@customer.example", "Carol Customer")


@dataclass
class ZendeskWorld:
    zd: ZendeskEmulator
    zd_url: str
    w: WebexWorld
    done: setup.Done

    def open_ticket(self, subject: str = "Router drops packets", **kw: Any) -> int:
        kw.setdefault("assignee_email", "ada@support.example")
        return self.zd.open_ticket(subject, CUSTOMER[0], requester_name=CUSTOMER[1], description="Since the upgrade",
                                   **kw)  # fmt: skip

    def room(self, ticket: int) -> dict[str, Any]:
        return self.w.room(f"Case ZD-{ticket}")

    def has_room(self, ticket: int) -> bool:
        return any(r["title"].startswith(f"Case ZD-{ticket}") for r in self.w.emu.snapshot()["rooms"])

    def members(self, ticket: int) -> list[str]:
        """The room's people: neither the bot nor the sandbox's observer."""
        people = (m["email"] for m in self.room(ticket)["members"])
        return sorted(e for e in people if not e.endswith("@webex.bot") and e != "observer@sandbox.example")

    def room_url(self, ticket: int) -> str | None:
        fields = self.zd.ticket(ticket).get("custom_fields") or []
        return next((f["value"] for f in fields if f["id"] == self.done.field_id), None)

    def notes(self, ticket: int) -> list[dict[str, Any]]:
        """The ticket's comments after the first (the description)."""
        return self.zd.comments(ticket)[1:]

    def settle(self, until: Callable[[], bool] = lambda: True, timeout: float = 20.0, idle: bool = True) -> None:
        """Wait until both emulators' webhooks are out, ``until`` holds and (with ``idle``) no job is waiting."""

        def flushed(t: float) -> bool:
            return bool(self.zd.flush(t)) and bool(self.w.emu.flush(t))

        settle(flushed, self.w.rt.queue, until, timeout, idle)


@contextmanager
def zendesk_world(tmp_path: Path, plugins: tuple[Any, ...] = (), **overrides: Any) -> Iterator[ZendeskWorld]:
    """``plugins``: more beside Webex's and Zendesk's (a second chat platform)."""
    zd = ZendeskEmulator(subdomain="caseroom", export_lag_s=0)
    zd_server = zd.start()
    for email, (name, tz) in ENGINEERS.items():
        zd.add_user(name, email, role="agent", iana_time_zone=tz)
    sock = listen()
    caseroom_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env, done = set_up_zendesk(zd, zd_server.url, caseroom_url)
    try:
        with webex_world(tmp_path, plugins=(zendesk_plugin, *plugins), fake_crm=False, sock=sock,
                         **{**env, **overrides}) as w:  # fmt: skip
            yield ZendeskWorld(zd, zd_server.url, w, done)
    finally:
        zd.stop()
