"""Whole lifecycles through the real SDKs while the sandbox misbehaves: 10 % 5xx, 5 % 429, 2 % hung calls.

Every CRM webhook arrives three times, concurrently. Every lifecycle completes, nothing is doubled, and the one
case made to fail for good is a visible dead letter, not a silent loss. After closure nobody but the bot is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from caseroom_sandbox.faults import Knobs

from bot.models import JobStatus
from tests.reliability.conftest import Form
from tests.slack_world import slack_world
from tests.support import case_event, encode, signed_headers
from tests.webex_world import webex_world

FLAKY = Knobs(error_rate=0.10, rate_limit_rate=0.05, timeout_rate=0.02, timeout_s=0.3, seed=11)
REFUSED = 0  # this case's room URL is refused by the CRM for good


def events(n: int, platform: str) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        number = f"{i:08d}"
        for kind, extra in (("case.opened", {}), ("case.closed", {"status": "Closed"})):
            ev = case_event(f"{kind}-{i}", kind, number=number, customer=f"c{i}@customer.example",
                            occurred_at="2026-11-22T18:00:00Z" if kind == "case.opened" else "2026-11-23T09:00:00Z",
                            **extra)  # fmt: skip
            ev["case"]["platform"] = platform
            out.append(ev)
    return out


def deliver_3x(url: str, evs: list[dict[str, Any]]) -> None:
    def send(body: bytes) -> None:
        r = httpx.post(f"{url}/webhooks/crm", content=body, headers=signed_headers(body), timeout=30)
        assert r.status_code == 200, r.text

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(send, [encode(e) for e in evs for _ in range(3)]))


@contextmanager
def world(platform: str, tmp_path: Path) -> Iterator[Any]:
    make: Callable[..., Any] = webex_world if platform == "webex" else slack_world
    with make(tmp_path, workers=4, CASEROOM_JOB_MAX_ATTEMPTS=40, CASEROOM_JOB_BACKOFF_MAX_SECONDS=1) as w:
        yield w


def rooms_of(w: Any, platform: str) -> dict[str, list[dict[str, Any]]]:
    """Rooms the bot made, by case number, with their members (e-mails) and whether they are closed."""
    out: dict[str, list[dict[str, Any]]] = {}
    snap = w.emu.snapshot()
    if platform == "webex":
        for r in snap["rooms"]:
            if r["title"].startswith("Case "):
                members = [m["email"] for m in r["members"]]
                out.setdefault(r["title"][5:13], []).append({"members": members, "closed": r["isLocked"] or
                                                             r.get("isAnnouncementOnly")})  # fmt: skip
    else:
        for c in snap["channels"]:
            if c["name"].startswith("case-") and c["creator"] == w.emu.bot_user_id:
                out.setdefault(c["name"][5:13], []).append({"members": c["members"], "closed": c["is_archived"]})
    return out


def dead_job_runs(metrics_text: str) -> float:
    """Job runs that ended in a dead letter, over every job kind, from Prometheus text."""
    return sum(float(line.split()[-1]) for line in metrics_text.splitlines()
               if line.startswith("caseroom_jobs_total{") and 'outcome="dead"' in line)  # fmt: skip


@pytest.mark.parametrize("platform", ["webex", "slack"])
def test_lifecycles_complete_through_a_misbehaving_platform(platform: str, tmp_path: Path, form: Form) -> None:
    n = max(form.cases // 5, 12)  # real SDKs over HTTP: a fifth of the in-process burst's size
    with world(platform, tmp_path) as w:
        w.state.set_fault("crm.write_room_url", "permanent", refuse_case=f"500{REFUSED:08d}")
        w.emu.faults.configure(FLAKY)
        dead_before = dead_job_runs(httpx.get(f"{w.url}/metrics").text)  # the registry is per process: a delta
        evs = events(n, platform)
        deliver_3x(w.url, [e for e in evs if e["type"] == "case.opened"])
        w.settle(timeout=form.deadline / 2)
        deliver_3x(w.url, [e for e in evs if e["type"] == "case.closed"])
        w.settle(timeout=form.deadline / 2)
        w.emu.faults.configure(Knobs())

        rooms = rooms_of(w, platform)
        assert sorted(rooms) == [f"{i:08d}" for i in range(n)], "one room for every case"
        assert all(len(r) == 1 for r in rooms.values()), {k: len(v) for k, v in rooms.items() if len(v) > 1}
        bot = w.emu.bot_user_id if platform == "slack" else "caseroom@webex.bot"
        for number, [room] in rooms.items():
            assert room["closed"], number
            assert set(room["members"]) - {"observer@sandbox.example"} == {bot}, (number, room["members"])
        written = {c["crm_id"] for c in w.state.calls("crm.write_room_url")}
        assert written == {f"500{i:08d}" for i in range(n) if i != REFUSED}
        # Transcripts were filed for every case, once.
        transcripts = [c["crm_id"] for c in w.state.calls("crm.attach_file") if c["name"].endswith("transcript.json")]
        assert sorted(transcripts) == sorted(f"500{i:08d}" for i in range(n))

        counts = w.rt.queue.counts()
        assert set(counts) <= {JobStatus.DONE, JobStatus.DEAD}, counts
        deads = w.rt.queue.list(JobStatus.DEAD, 10)
        assert len(deads) == 1, [(d.kind, d.last_error) for d in deads]  # the refusal, and nothing else
        assert "simulated refusal" in (deads[0].last_error or "")
        assert dead_job_runs(httpx.get(f"{w.url}/metrics").text) == dead_before + 1
