"""Close-time export of a 100k-message Webex room: API calls against the minimum, and peak RSS growth.

The emulator runs in its own process (``python -m benchmarks.export_calls serve N``) so its 100k messages
are not counted in CaseRoom's memory. CaseRoom's export is the closure's own step: page through
``messages.list`` with the observer (the bot alone may only list messages that mention it) and record each
message on the timeline in SQLite, committing every 500. The minimum is ``ceil(n / 1000)`` list calls,
1000 being Webex's largest page.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

WEBEX_MAX_PAGE = 1000


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve(n: int) -> None:
    """Run the Webex emulator with one room of ``n`` messages; print its coordinates, count list calls."""
    from caseroom_sandbox.server import ServerThread
    from caseroom_sandbox.webex import WebexEmulator

    emu = WebexEmulator(seed=1)
    calls: Counter[str] = Counter()
    inner = emu.app

    async def counting(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/messages" and scope["method"] == "GET":
            calls["messages.list"] += 1
        if scope["type"] == "http" and scope["path"] == "/_count":
            body = json.dumps(calls).encode()
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

    store, msgs = emu.store, emu.messages
    customer = store.add_person("carol@customer.example", "Carol Customer")
    room = store.create_room(emu.bot, {"title": "Case 00100000: a very long room", "isLocked": True})
    assert emu.observer is not None
    for person in (emu.observer, customer):
        store.join(room, person, actor=emu.bot)
    with store.lock:
        root = None
        for i in range(n):
            msg = msgs._new(customer if i % 3 else emu.bot, room, root if i % 10 else None)
            msg.text = f"Message {i}: the tunnel dropped again after the rekey, see the attached log."
            store.messages[msg.id] = msg
            if i % 10 == 0:
                root = msg.id
    server = ServerThread(counting).start()
    print(json.dumps({"url": server.url, "room": room.id, "bot": emu.bot_token, "observer": emu.observer_token}),
          flush=True)
    sys.stdin.read()  # until the parent closes our stdin


def measure(n: int) -> dict[str, float]:
    import httpx

    from bot import schema
    from bot.closure import record_history_message
    from bot.db import Database
    from bot.models import Case
    from tests.support import settings as test_settings

    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.export_calls", "serve", str(n)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        where = json.loads(proc.stdout.readline())
        from integrations.webex.client import api
        from integrations.webex.messenger import WebexMessenger
        from integrations.webex.settings import WebexSettings

        with tempfile.TemporaryDirectory() as tmp:
            base_url = f"{where['url']}/v1/"
            s = test_settings(f"sqlite:///{tmp}/export.db", WEBEX_BASE_URL=base_url)
            db = Database(s.database_url)
            schema.upgrade(db)
            with db.session() as session:
                case = Case(crm_id="bench", number="00100000", subject="a very long room")
                session.add(case)
                session.commit()
                case_id = case.id
            assert case_id is not None
            link = s.section(WebexSettings).space_link
            messenger = WebexMessenger(api(where["bot"], base_url), api(where["observer"], base_url), link)
            base_rss = rss_mib()
            t0 = time.perf_counter()
            seen = 0
            with db.session() as session:
                for seen, msg in enumerate(messenger.history(where["room"]), 1):
                    record_history_message(session, case_id, msg)
                    if seen % 500 == 0:
                        session.commit()
                session.commit()
            elapsed = time.perf_counter() - t0
            growth = peak_mib() - base_rss
            db.dispose()
        calls = httpx.get(f"{where['url']}/_count").json().get("messages.list", 0)
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(10)
    return {"messages": seen, "calls": calls, "minimum": math.ceil(n / WEBEX_MAX_PAGE), "seconds": elapsed,
            "rss_growth_mib": growth}  # fmt: skip


def run(quick: bool = False) -> None:
    n = 10_000 if quick else 100_000
    r = measure(n)
    print(f"\nexport: a {n:,}-message Webex room, paged with the observer and recorded on the timeline (SQLite)")
    print(f"{'messages':>10}{'list calls':>12}{'minimum':>9}{'ratio':>7}{'seconds':>9}{'peak RSS growth':>17}")
    print(f"{r['messages']:>10,.0f}{r['calls']:>12.0f}{r['minimum']:>9.0f}{r['calls'] / r['minimum']:>6.2f}x"
          f"{r['seconds']:>9.1f}{r['rss_growth_mib']:>13.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
