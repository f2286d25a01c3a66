"""The job claim under a skewed queue: does one busy lane slow the others down?

10,000 queued jobs drained by 4 workers (threads, as ``caseroom worker`` runs them, with its 0.5 s idle poll), in
two shapes:

* **skewed**: 1,000 lanes, one of which holds 5,000 jobs queued first (a busy Slack channel's burst: its events
  and the room jobs they make share ``room:slack:<id>``), then the other 5,000 spread over the other 999;
* **distinct**: the same jobs, each in a lane of its own.

The jobs do nothing, so the figures are the queue's own cost per job (claim, complete). Jobs of a lane run one at
a time, so a job's own work time would put a floor under the skewed shape (the busy lane's 5,000 in a row) that
no claim can lift; what the claim must not do is leave workers idle while other lanes have due jobs. "quiet done"
is when the last job of the other 999 lanes ran, as a share of the skewed run: the delay the busy channel
caused every other room.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from bot import schema
from bot.db import Database
from bot.jobs import JobQueue
from bot.models import Job
from bot.worker import JobKind, Worker
from tests.support import PG_ENV, fresh_postgres_database

WORKERS = 4
BUSY = "room:slack:C-BUSY"


def shapes(n: int) -> dict[str, list[str]]:
    """The lane of each job, in the order they are queued."""
    busy, others = n // 2, n // 10 - 1
    skewed = [BUSY] * busy + [f"room:slack:C{i % others}" for i in range(n - busy)]
    return {"skewed": skewed, "distinct": [f"room:slack:D{i}" for i in range(n)]}


def drain(db_url: str, lanes: list[str]) -> tuple[float, float]:
    """Seconds for the workers to run every job, and until the last job outside the busy lane ran."""
    db = Database(db_url)
    schema.prepare(db)
    queue = JobQueue(db)
    with db.session() as s:
        for start in range(0, len(lanes), 1000):
            batch = lanes[start : start + 1000]
            queue.enqueue_many(s, [("bench.noop", {}, f"j{start + i}", lane) for i, lane in enumerate(batch)])
        s.commit()
    done = threading.Event()
    ran, quiet = 0, 0.0
    guard = threading.Lock()

    def noop(job: Job) -> None:
        nonlocal ran, quiet
        with guard:
            ran += 1
            if job.lane != BUSY:
                quiet = time.perf_counter()
            if ran == len(lanes):
                done.set()

    stop = threading.Event()
    workers = [Worker(queue, {"bench.noop": JobKind(noop)}, name=f"bench-{i}") for i in range(WORKERS)]
    threads = [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers]
    started = time.perf_counter()
    for t in threads:
        t.start()
    finished = done.wait(600)
    seconds = time.perf_counter() - started
    stop.set()
    queue.wakeup.set()
    for t in threads:
        t.join(30)
    left = queue.pending()
    db.dispose()
    if not finished or left > 1:  # the last job's own completion may still be on its way
        raise RuntimeError(f"{ran} of {len(lanes)} jobs ran in {seconds:.0f} s")
    return seconds, quiet - started


def run(quick: bool = False) -> None:
    n = 1_000 if quick else 10_000
    rows: list[tuple[str, dict[str, tuple[float, float]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("SQLite", {shape: drain(f"sqlite:///{Path(tmp) / f'{shape}.db'}", lanes)
                                for shape, lanes in shapes(n).items()}))  # fmt: skip
        if os.environ.get(PG_ENV):
            figures = {}
            for shape, lanes in shapes(n).items():
                with fresh_postgres_database() as url:
                    figures[shape] = drain(url, lanes)
            rows.append(("PostgreSQL", figures))
    print(f"\njob claim: {n} no-op jobs drained by {WORKERS} workers; skewed = {n // 10} lanes, one holding "
          f"{n // 2} queued first; distinct = a lane each")
    print(f"{'database':<12}{'skewed jobs/s':>15}{'distinct jobs/s':>17}{'skewed/distinct':>17}{'quiet done':>12}")
    for name, f in rows:
        (skewed_s, quiet_s), (distinct_s, _) = f["skewed"], f["distinct"]
        skewed, distinct = n / skewed_s, n / distinct_s
        print(f"{name:<12}{skewed:>15.0f}{distinct:>17.0f}{skewed / distinct:>16.0%}{quiet_s / skewed_s:>11.0%}")
    if not os.environ.get(PG_ENV):
        print(f"(set {PG_ENV} to compare PostgreSQL in the same run)")
