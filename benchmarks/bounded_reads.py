"""Do the pages people read grow with the history behind them?

The same service, early in its life and two years on: cases arrive at a steady 14 a day and are resolved three
days after they open, so both databases hold about the same open rooms; what differs is the history. **small** is
100 cases with 10,000 timeline rows (100 per case), **large** 10,000 cases with 1,000,000. Each read is timed
through the product's own interface, in the same run, on a warm database:

* ``/admin``: the rooms not yet closed with each one's last activity;
* ``/admin/figures``: the last 12 weeks' figures (in **large** about 1,200 cases opened in the window, in
  **small** all 100);
* a case page (``/admin/cases/<number>``) of an open case;
* ``/case timeline 50`` asked by the case's engineer, answered inline as Slack's slash command is (within the 3 s
  acknowledgement).

The bar: each read's p95 on **large** within 2x of its p95 on **small**.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.events import Actor, CommandRequest
from bot.models import Case, CaseFile, Participant, Room, TimelineEvent
from handlers import command_requests
from tests.support import PG_ENV, fresh_postgres_database, runtime

PER_DAY = 14
RESOLVED_AFTER = timedelta(days=3)
EVENTS_PER_CASE = 100
REPEATS = 40
TOKEN = "bench-admin-token-0123456789"
ENGINEER, CUSTOMER = "ada@support.example", "carol@customer.example"


def _timeline(i: int, opened: datetime, closed: datetime | None, now: datetime) -> list[dict[str, Any]]:
    """A case's entries: opened, room open, both people invited and in, then talk with files, notes and handoffs,
    and the closing when it closed."""
    span = ((closed or now) - opened) / (EVENTS_PER_CASE + 1)
    events: list[dict[str, Any]] = []

    def add(kind: str, body: str = "", actor: str | None = None, **data: Any) -> None:
        events.append({"case_id": i, "kind": kind, "text": body, "at": opened + span * len(events),
                       "actor_email": actor, "actor_name": None, "data": data, "source_key": None})  # fmt: skip

    add("case", "Case opened", type="case.opened")
    add("state", "Room open", to="open")
    for who in (ENGINEER, CUSTOMER):
        add("invite", f"{who} invited", email=who, outcome="added")
        add("join", f"{who} joined", who)
    for k in range(EVENTS_PER_CASE - len(events) - (1 if closed else 0)):
        if k % 20 == 7:
            add("file", "log.txt shared", CUSTOMER, files=[f"log-{k}.txt"])
        elif k % 50 == 11:
            add("note", "internal: check the firmware", ENGINEER)
        elif k % 50 == 31:
            add("handoff", "handed over", ENGINEER, **{"from": ENGINEER, "to": ENGINEER})
        else:
            who = CUSTOMER if k % 2 else ENGINEER
            add("message", f"message {k} of case {i}: the appliance still reboots", who, message_id=f"m{i}-{k}")
    if closed:
        add("case", "Case closed", type="case.closed")
    return events


def populate(db_url: str, n: int, now: datetime) -> None:
    """Write ``n`` cases straight into the tables (the product's own writes would take hours for a million rows)."""
    from bot import figures, schema
    from bot.db import Database

    db = Database(db_url)
    schema.prepare(db)
    tables = {m: m.__table__ for m in (Case, Room, Participant, CaseFile, TimelineEvent)}  # type: ignore[attr-defined]
    batch: dict[Any, list[dict[str, Any]]] = {m: [] for m in tables}

    def flush(conn: Connection) -> None:
        for model, rows in batch.items():
            if rows:
                conn.execute(tables[model].insert(), rows)
                rows.clear()

    with db.engine.begin() as conn:
        step = timedelta(days=1) / PER_DAY
        for i in range(1, n + 1):
            opened = now - (n - i) * step - timedelta(minutes=5)
            closed = opened + RESOLVED_AFTER if opened + RESOLVED_AFTER < now else None
            events = _timeline(i, opened, closed, now)
            batch[Case].append({"id": i, "crm_id": f"500{i:012d}", "number": f"{i:08d}", "subject": f"Case {i}",
                                "description": "", "status": "Closed" if closed else "Working",
                                "priority": ("High", "Medium", "Low")[i % 3], "platform": "webex",
                                "is_closed": closed is not None, "customer_email": CUSTOMER,
                                "engineer_email": ENGINEER, "created_at": opened, "closed_at": closed})  # fmt: skip
            batch[Room].append({"case_id": i, "platform": "webex", "room_id": f"room-{i}", "name": f"Case {i}",
                                "state": "closed" if closed else "open", "state_changed_at": opened,
                                "steps": {}})  # fmt: skip
            for who, role in ((ENGINEER, "engineer"), (CUSTOMER, "customer")):
                batch[Participant].append({"case_id": i, "email": who, "name": who.split("@")[0].title(),
                                           "role": role, "platform_user_id": f"{role}-{i}",
                                           "status": "removed" if closed else "added", "status_reason": "",
                                           "updated_at": opened})  # fmt: skip
            for k, e in enumerate(events):
                if e["kind"] == "file":
                    name = e["data"]["files"][0]
                    batch[CaseFile].append({"case_id": i, "platform_file_id": f"f{i}-{k}", "name": name, "size": 2048,
                                            "uploaded_by": CUSTOMER, "uploaded_at": e["at"]})  # fmt: skip
            batch[TimelineEvent].extend(events)
            if len(batch[TimelineEvent]) >= 20_000:
                flush(conn)
        flush(conn)
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))"))
    figures.backfill(db)  # what each closed case's closure stored, computed by the product's own rules
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))  # a database in service has statistics; a freshly loaded one is given them
    db.dispose()


def p95(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def timed(read: Callable[[], object], repeats: int) -> float:
    read()  # warm: the first read of a page pays for imports and caches, not for the history
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        read()
        seconds.append(time.perf_counter() - started)
    return p95(seconds)


@contextmanager
def database(kind: str, tmp: Path, name: str) -> Iterator[str]:
    if kind == "SQLite":
        yield f"sqlite:///{tmp / f'{name}.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def measure(db_url: str, n: int, tmp: Path, repeats: int) -> dict[str, float]:
    now = datetime.now(UTC)
    populate(db_url, n, now)
    rt, _ = runtime(db_url, tmp / f"state-{n}.json", CASEROOM_ADMIN_TOKEN=TOKEN)
    open_case = n  # the newest case: its room is open
    number = f"{open_case:08d}"
    client = TestClient(rt.app)
    client.post("/admin/login", data={"token": TOKEN, "next": "/admin"}, follow_redirects=False)
    asked = iter(range(10**9))

    def page(path: str) -> Callable[[], object]:
        def read() -> object:
            got = client.get(path)
            if got.status_code != 200:
                raise RuntimeError(f"GET {path}: {got.status_code}")
            return got

        return read

    def timeline_command() -> object:
        req = CommandRequest("webex", f"room-{open_case}", Actor(f"engineer-{open_case}", ENGINEER, "Ada"),
                             "timeline 50", datetime.now(UTC))  # fmt: skip
        reply = command_requests.answer_inline(rt.services, req, f"bench-{next(asked)}", lambda: True)
        if reply is None or "Last 50 events" not in reply.text:
            raise RuntimeError(f"/case timeline 50 was not answered inline: {reply}")
        return reply

    try:
        return {
            "/admin": timed(page("/admin"), repeats),
            "/admin/figures": timed(page("/admin/figures"), repeats),
            "case page": timed(page(f"/admin/cases/{number}"), repeats),
            "/case timeline 50": timed(timeline_command, repeats),
        }
    finally:
        client.close()
        rt.services.db.dispose()


def run(quick: bool = False) -> None:
    large = 1_000 if quick else 10_000
    repeats = 10 if quick else REPEATS
    kinds = ["SQLite"] + (["PostgreSQL"] if os.environ.get(PG_ENV) else [])
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for kind in kinds:
            results[kind] = {}
            for label, n in (("small", 100), ("large", large)):
                with database(kind, tmp, f"{label}-{n}") as url:
                    results[kind][label] = measure(url, n, tmp, repeats)
    print(f"\nbounded reads: p95 of each read with 100 cases ({100 * EVENTS_PER_CASE:,} timeline rows) and with "
          f"{large:,} ({large * EVENTS_PER_CASE:,}); cases arrive {PER_DAY} a day and close after "
          f"{RESOLVED_AFTER.days} days")  # fmt: skip
    print(f"{'database':<12}{'read':<20}{'small ms':>10}{'large ms':>10}{'large/small':>13}")
    for kind, by_size in results.items():
        for read, small in by_size["small"].items():
            big = by_size["large"][read]
            print(f"{kind:<12}{read:<20}{small * 1000:>10.1f}{big * 1000:>10.1f}{big / small:>12.1f}x")
    if PG_ENV not in os.environ:
        print(f"(set {PG_ENV} to compare PostgreSQL in the same run)")
