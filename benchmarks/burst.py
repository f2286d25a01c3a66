"""A burst of cases against a platform that enforces rate limits: how close to the allowed rate, how few 429s.

Each emulator enforces per-method sliding windows (scaled up from the platform's so the run is short);
CaseRoom is told the same limits (``WEBEX_RATE_LIMITS`` / ``SLACK_RATE_LIMITS``) and paces itself. Slack's
published tiers (integrations/slack/tiers.py) run 24 times faster in one-second windows, which puts
``conversations.create`` (tier 2, 20/min) at Webex's ``rooms.create`` 8/s: tier 3 (50/min) becomes 20/s, tier 4
(100/min) 40/s. ``chat.postMessage`` is limited per channel (about 1/s), which the emulator's per-method windows
cannot express (a burst of new channels posts three times into each): it is not limited here.

The bottleneck is room creation: achieved/allowed is the rate of room creations between the first and the
last, over its limit. "seconds" is until every job (invitations, announcements) is done. A second run without
pacing shows the 429 share without it.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caseroom_sandbox.faults import Knobs, RateLimit

from integrations.pacing import Rate
from integrations.slack import tiers
from tests.slack_world import CRM_LINK, slack_world
from tests.support import case_event, encode, signed_headers
from tests.webex_world import webex_world

SLACK_SCALE = 24


@dataclass(frozen=True)
class Platform:
    name: str
    world: Callable[..., AbstractContextManager[Any]]
    setting: str  # the pacing setting CaseRoom is told the limits by
    limits: dict[str, Rate]  # enforced by the emulator, and the pacing when paced
    create: str  # the bottleneck: the method that makes a room
    case: dict[str, str] = field(default_factory=dict)  # overrides of the event's case

    @property
    def allowed(self) -> float:
        calls, seconds = self.limits[self.create]
        return calls / seconds


WEBEX = Platform(
    "Webex", webex_world, "WEBEX_RATE_LIMITS",
    {"rooms.create": (8, 1.0), "memberships.create": (30, 1.0), "messages.create": (30, 1.0),
     "people.list": (30, 1.0)},
    "rooms.create",
)  # fmt: skip
SLACK = Platform(
    "Slack", slack_world, "SLACK_RATE_LIMITS",
    {m: (round(n * SLACK_SCALE / s), 1.0) for m, (n, s) in tiers.DEFAULT_RATES.items()},
    "conversations.create", {"platform": "slack", "link": CRM_LINK},
)  # fmt: skip


def burst(p: Platform, cases: int, paced: bool) -> dict[str, float]:
    import httpx

    pacing = ",".join(f"{m}={n}/{s:g}" for m, (n, s) in p.limits.items()) if paced else ""
    with (
        tempfile.TemporaryDirectory() as tmp,
        p.world(Path(tmp), workers=4, **{p.setting: pacing}, CASEROOM_JOB_MAX_ATTEMPTS=50) as w,
    ):
        w.emu.faults.configure(Knobs(rate_limits={m: RateLimit(n, s, retry_after=1) for m, (n, s) in p.limits.items()},
                                     seed=w.emu.seed))  # fmt: skip
        verdicts: Counter[tuple[str, str]] = Counter()
        created_at: list[float] = []
        decide = w.emu.faults.decide

        def counting(method: str) -> tuple[str, int]:
            verdict: tuple[str, int] = decide(method)
            verdicts[(method, verdict[0])] += 1
            if method == p.create and verdict[0] == "ok":
                created_at.append(time.perf_counter())
            return verdict

        w.emu.faults.decide = counting
        with httpx.Client(base_url=w.url) as client:
            t0 = time.perf_counter()
            for i in range(cases):
                event = case_event(f"evt_{i}", number=f"{i + 1:08d}")
                event["case"].update(p.case)
                body = encode(event)
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
    return {"rooms": created, "seconds": elapsed, "achieved": (created - 1) / span / p.allowed,
            "requests": total, "share_429": limited / total, "dead": dead}  # fmt: skip


def table(p: Platform, cases: int, limits: str) -> None:
    rows = [(f"paced ({p.setting})", burst(p, cases, True)), ("not paced (Retry-After only)", burst(p, cases, False))]
    print(f"\nburst ({p.name}): {cases} cases at once; the emulator allows {limits}")
    print(f"{'CaseRoom':<30}{'rooms':>7}{'seconds':>9}{'achieved/allowed':>18}{'requests':>10}{'429 share':>11}"
          f"{'dead':>6}")  # fmt: skip
    for name, r in rows:
        print(f"{name:<30}{r['rooms']:>7.0f}{r['seconds']:>9.1f}{r['achieved']:>18.2f}{r['requests']:>10.0f}"
              f"{r['share_429']:>10.1%}{r['dead']:>6.0f}")  # fmt: skip


def run(quick: bool = False) -> None:
    cases = 60 if quick else 500
    w, s = WEBEX.limits, SLACK.limits
    table(WEBEX, cases, f"rooms.create {w['rooms.create'][0]}/s, memberships.create and messages.create 30/s")
    table(SLACK, cases, f"tiers x{SLACK_SCALE}: tier 2 (conversations.create, setTopic, setPurpose, bookmarks.add, "
          f"inviteShared) {s['conversations.create'][0]}/s, tier 3 (invite, users.lookupByEmail) "
          f"{s['conversations.invite'][0]}/s, tier 4 {s['users.info'][0]}/s; chat.postMessage unlimited")  # fmt: skip
