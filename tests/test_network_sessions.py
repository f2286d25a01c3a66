"""No database connection is held while CaseRoom waits on the network.

A connection checked out across a platform or CRM call holds, on SQLite, the write lock (every webhook's
acknowledgement waits behind it) and, on PostgreSQL, a pooled connection and an open transaction for a whole
round trip. These tests watch every HTTP request the runtime makes (the SDKs all speak through ``http.client``)
and fail on any made by a thread that has a database connection checked out at that moment.
"""

from __future__ import annotations

import base64
import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.slack_world import CUSTOMER as SLACK_CUSTOMER
from tests.slack_world import ENGINEER, slack_world
from tests.webex_world import webex_world

CUSTOMER = "carol@customer.example"
CLOSE = {"event_id": "evt_close", "type_": "case.closed", "occurred_at": "2026-11-23T09:00:00Z", "status": "Closed"}


@contextmanager
def requests_made_holding_a_connection(engine: Engine) -> Iterator[list[str]]:
    """The HTTP requests (method, host, path) made while their thread had a connection from ``engine``."""
    offences: list[str] = []
    holder: dict[int, int] = {}  # connection record -> the thread that has it checked out

    def checked_out(_conn: Any, record: Any, _proxy: Any) -> None:
        holder[id(record)] = threading.get_ident()

    def checked_in(_conn: Any, record: Any) -> None:
        holder.pop(id(record), None)

    real = http.client.HTTPConnection.putrequest

    def watched(self: http.client.HTTPConnection, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        if threading.get_ident() in holder.values():
            offences.append(f"{method} {self.host}:{self.port}{url.split('?')[0]}")
        real(self, method, url, *args, **kwargs)

    event.listen(engine, "checkout", checked_out)
    event.listen(engine, "checkin", checked_in)
    try:
        with mock.patch.object(http.client.HTTPConnection, "putrequest", watched):
            yield offences
    finally:
        event.remove(engine, "checkout", checked_out)
        event.remove(engine, "checkin", checked_in)


def test_closing_a_room_pages_its_history_and_files_it_without_holding_a_connection(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w, requests_made_holding_a_connection(w.rt.db.engine) as offences:
        w.deliver()
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        room_id = str(w.room()["id"])
        for n in range(3):  # uploads: the export asks Webex for each file's details while it pages the history
            content = base64.b64encode(b"log line\n" * 50).decode()
            w.act("act/message", as_email=CUSTOMER, room_id=room_id, text=f"log {n}",
                  file={"name": f"vpn-{n}.log", "mime": "text/plain", "content_b64": content})  # fmt: skip
            w.act("act/message", as_email=CUSTOMER, room_id=room_id, text=f"it dropped again ({n})")
        w.settle()
        w.deliver(**CLOSE)
        w.settle(lambda: bool(w.room()["isLocked"]), timeout=30)
        names = [c["name"] for c in w.state.calls("crm.attach_file")]
        assert "case-00001234-transcript.html" in names  # the closure ran to the end
        assert offences == []


def test_a_slack_case_from_opening_to_archive_makes_no_call_holding_a_connection(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w, requests_made_holding_a_connection(w.rt.db.engine) as offences:
        cid = w.opened_with_customer()
        content = base64.b64encode(b"z" * 2048).decode()
        dump = {"name": "router-dump.zip", "mime": "application/zip", "content_b64": content}
        w.emu.act_message(SLACK_CUSTOMER, cid, "here are the logs", file=dump)
        parent = w.emu.act_message(ENGINEER, cid, "please run the capture again")
        w.emu.act_message(SLACK_CUSTOMER, cid, "done, same result", thread_ts=parent["ts"])
        assert w.emu.command(ENGINEER, cid, "note customer confirmed the rekey drop")["status"] == 200
        assert w.emu.command(ENGINEER, cid, "timeline 5")["status"] == 200
        w.settle(lambda: any(c["name"] == "router-dump.zip" for c in w.state.calls("crm.attach_file")))
        assert w.deliver(event_id="evt_close", type_="case.closed", status="Closed").status_code == 200
        w.settle(lambda: w.channel_by_id(cid)["is_archived"])
        assert "case-00001234-transcript.json" in [c["name"] for c in w.state.calls("crm.attach_file")]
        assert offences == []
