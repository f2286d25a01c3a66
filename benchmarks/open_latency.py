"""Open latency: a case event -> a Webex space with the engineer and the customer in it and the room URL on
the CRM, with the emulator adding a fixed latency to every API call.

The critical-path minimum is what no implementation can beat: the space must exist before anyone joins it,
while the two invitations and the CRM write can go out together, so ``2 x latency`` of network on top of the
same pipeline's time with no latency (webhook, job, database). Both are measured in this run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.webex_world import webex_world

CUSTOMER = "carol@customer.example"
ENGINEER = "ada@support.example"


def open_times(latency_ms: float, cases: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp, webex_world(Path(tmp), workers=2) as w:
        w.emu.faults.update(latency_ms=latency_ms)
        times = []
        for i in range(cases):
            number = f"{i + 1:08d}"
            t0 = time.perf_counter()
            r = w.deliver(event_id=f"evt_{i}", number=number)
            assert r.status_code == 200, r.text
            while True:
                rooms = [x for x in w.emu.snapshot()["rooms"] if x["title"].startswith(f"Case {number}")]
                emails = {m["email"] for m in rooms[0]["members"]} if rooms else set()
                written = any(c.get("crm_id") == f"500{number}" for c in w.state.calls("crm.write_room_url"))
                if {CUSTOMER, ENGINEER} <= emails and written:
                    break
                time.sleep(0.002)
            times.append(time.perf_counter() - t0)
            w.settle(timeout=60)  # the next case starts on an idle system
        return times


def run(quick: bool = False) -> None:
    cases = 3 if quick else 10
    latency = 50.0
    base = statistics.median(open_times(0.0, cases))
    slow = statistics.median(open_times(latency, cases))
    minimum = base + 2 * latency / 1000
    print(f"\nopen latency: case event -> space + both members + URL on the CRM (median of {cases} cases)")
    print(f"{'per-call latency':<20}{'measured ms':>13}{'minimum ms':>12}{'ratio':>8}")
    print(f"{'0 ms':<20}{base * 1000:>13.0f}{base * 1000:>12.0f}{1:>7.2f}x")
    print(f"{f'{latency:.0f} ms':<20}{slow * 1000:>13.0f}{minimum * 1000:>12.0f}{slow / minimum:>7.2f}x")
