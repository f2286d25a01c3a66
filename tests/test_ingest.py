"""Group-committed ingest: many deliveries share a commit, yet each is stored once and answered on its own."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from sqlmodel import select

from bot.ingest import JobSpec
from bot.models import Delivery, Job
from tests.support import runtime


def test_concurrent_deliveries_with_repeats_are_each_stored_once(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    ids = [f"evt_{i % 40}" for i in range(200)]  # every id five times, from eight threads at once
    answers: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def send(chunk: list[str]) -> None:
        futures = [(d, rt.ingest.submit("crm", d, "{}", [JobSpec("test.kind", {"d": d})])) for d in chunk]
        got = [(d, f.result(timeout=30)) for d, f in futures]
        with lock:
            answers.extend(got)

    threads = [threading.Thread(target=send, args=(ids[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 200
    assert Counter(d for d, new in answers if new) == Counter({f"evt_{i}": 1 for i in range(40)})
    with rt.db.session() as s:
        assert len(s.exec(select(Delivery)).all()) == 40
        assert sorted(j.payload["d"] for j in s.exec(select(Job).where(Job.kind == "test.kind"))) == sorted(
            f"evt_{i}" for i in range(40))  # fmt: skip


def test_a_delivery_that_cannot_be_stored_fails_alone(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    bad = rt.ingest.submit("crm", "evt_bad", "{}", [JobSpec("test.kind", {"not json": object()})])
    good = [rt.ingest.submit("crm", f"evt_{i}", "{}", [JobSpec("test.kind", {"i": i})]) for i in range(20)]
    assert all(f.result(timeout=30) for f in good)
    assert bad.exception(timeout=30) is not None
    with rt.db.session() as s:
        stored = {d.delivery_id for d in s.exec(select(Delivery))}
    assert stored == {f"evt_{i}" for i in range(20)}  # nothing of the bad one, everything of the others
