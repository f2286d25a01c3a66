"""A burst of cases against a platform that enforces rate limits: how close to the allowed rate, how few 429s.

The Webex emulator enforces per-method sliding windows (scaled up from a real workspace's so the run is
short); CaseRoom is told the same limits (``WEBEX_RATE_LIMITS``) and paces itself. The bottleneck is
``rooms.create``: achieved/allowed is the rate of room creations between the first and the last, over its
limit. "seconds" is until every job (invitations, announcements) is done. A second run without pacing shows
the 429 share without it.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from integrations.webex import errors as webex_errors
from tests.support import case_event, encode, signed_headers
from tests.webex_world import webex_world

LIMITS = {"rooms.create": (8, 1.0), "memberships.create": (30, 1.0), "messages.create": (30, 1.0),
          "people.list": (30, 1.0)}  # fmt: skip
PACING = ",".join(f"{m}={n}/{s:g}" for m, (n, s) in LIMITS.items())


def burst(cases: int, paced: bool) -> dict[str, float]:
    import httpx

    with tempfile.TemporaryDirectory() as tmp, webex_world(
        Path(tmp), workers=4, WEBEX_RATE_LIMITS=PACING if paced else "", CASEROOM_JOB_MAX_ATTEMPTS=50
    ) as w:
        w.emu.faults.update(rate_limits={m: {"limit": n, "per_seconds": s, "retry_after": 1}
                                         for m, (n, s) in LIMITS.items()})  # fmt: skip
        verdicts: Counter[tuple[str, str]] = Counter()
        created_at: list[float] = []
        decide = w.emu.faults.decide

        def counting(method: str) -> tuple[str, int]:
            verdict = decide(method)
            verdicts[(method, verdict[0])] += 1
            if method == "rooms.create" and verdict[0] == "ok":
                created_at.append(time.perf_counter())
            return verdict

        w.emu.faults.decide = counting  # type: ignore[method-assign]
        with httpx.Client(base_url=w.url) as client:
            t0 = time.perf_counter()
            for i in range(cases):
                body = encode(case_event(f"evt_{i}", number=f"{i + 1:08d}"))
                assert client.post("/webhooks/crm", content=body, headers=signed_headers(body)).status_code == 200
            w.settle(lambda: w.rt.queue.pending() == 0, timeout=cases * 2.0)
            elapsed = time.perf_counter() - t0
        created = len(created_at)
        # From the first room to the last: the span in which the limit was the constraint.
        span = created_at[-1] - created_at[0]
        total = sum(verdicts.values())
        limited = sum(n for (_, v), n in verdicts.items() if v == "ratelimit")
        counts: dict[str, Any] = w.rt.queue.counts()
        dead = sum(n for status, n in counts.items() if str(status).endswith("dead"))
    webex_errors.PACER.rates = {}
    allowed = LIMITS["rooms.create"][0] / LIMITS["rooms.create"][1]
    return {"rooms": created, "seconds": elapsed, "achieved": (created - 1) / span / allowed,
            "requests": total, "share_429": limited / total, "dead": dead}  # fmt: skip


def run(quick: bool = False) -> None:
    cases = 60 if quick else 500
    rows = [("paced (WEBEX_RATE_LIMITS)", burst(cases, True)), ("not paced (Retry-After only)", burst(cases, False))]
    print(f"\nburst: {cases} cases at once; the emulator allows rooms.create {LIMITS['rooms.create'][0]}/s, "
          "memberships.create and messages.create 30/s")  # fmt: skip
    print(f"{'CaseRoom':<30}{'rooms':>7}{'seconds':>9}{'achieved/allowed':>18}{'requests':>10}{'429 share':>11}"
          f"{'dead':>6}")  # fmt: skip
    for name, r in rows:
        print(f"{name:<30}{r['rooms']:>7.0f}{r['seconds']:>9.1f}{r['achieved']:>18.2f}{r['requests']:>10.0f}"
              f"{r['share_429']:>10.1%}{r['dead']:>6.0f}")  # fmt: skip
