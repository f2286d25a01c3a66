"""Webhook ingest: CaseRoom's verified + persisted + deduplicated ack against a bare FastAPI endpoint.

Both servers are separate uvicorn processes on this machine, started in the same run and driven by the same
asyncio client, so the ratio is CaseRoom's own cost per request. Two loads:

* closed loop: ``CONCURRENCY`` requests in flight, as fast as each server answers -> acks/s;
* open loop: requests sent on a fixed schedule (``RATE``/s), latency measured from the scheduled send time so
  a stalled server cannot hide its queue (no coordinated omission) -> p50/p99.

One request in four is a redelivery of an earlier event (it must be acknowledged and stored once).
Set CASEROOM_TEST_POSTGRES_URL to add PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx
from caseroom_sandbox.server import free_port

from benchmarks.loadgen import Load
from tests.support import PG_ENV, case_event, encode, fresh_postgres_database, signed_headers

CONCURRENCY = 16
SECONDS = 5  # of paced load


@contextmanager
def server(kind: str, db_url: str = "") -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.serve", kind, str(port), db_url])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def requests_for(n: int, prefix: str) -> list[tuple[bytes, dict[str, str]]]:
    out = []
    for i in range(n):
        k = i - 1 if i % 4 == 3 else i  # every fourth is a redelivery of the one before
        body = encode(case_event(f"{prefix}_{k}", number=f"{k:08d}"))
        out.append((body, signed_headers(body)))
    return out


def measure(kind: str, db_url: str, n: int, rate: float, tag: str) -> tuple[float, float, float, float]:
    with server(kind, db_url) as url:
        load = Load(url, "/webhooks/crm", CONCURRENCY)
        asyncio.run(load.closed_loop(requests_for(100, f"warm{tag}")))
        throughput = asyncio.run(load.closed_loop(requests_for(n, f"tp{tag}")))
        paced = Load(url, "/webhooks/crm", 64)
        lat, offered = asyncio.run(paced.open_loop(requests_for(int(rate * SECONDS), f"ol{tag}"), rate))
    q = statistics.quantiles(lat, n=100)
    return throughput, q[49] * 1000, q[98] * 1000, offered


def run(quick: bool = False) -> None:
    n = 600 if quick else 3000
    rate = 200.0 if quick else 1000.0
    rows: list[tuple[str, float, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("bare FastAPI endpoint", *measure("bare", "", n, rate, "b")))
        rows.append(("CaseRoom, SQLite", *measure("caseroom", f"sqlite:///{Path(tmp) / 'ingest.db'}", n, rate, "s")))
        pg = fresh_postgres_database() if os.environ.get(PG_ENV) else nullcontext(None)
        with pg as pg_url:
            if pg_url:
                rows.append(("CaseRoom, PostgreSQL", *measure("caseroom", pg_url, n, rate, "p")))
    bare = rows[0][1]
    print(f"\ningest: {n} signed webhooks closed-loop ({CONCURRENCY} in flight), then {rate:.0f} req/s open-loop "
          "(1 in 4 a redelivery)")
    print(f"{'server':<24}{'acks/s':>9}{'vs bare':>9}{'offered/s':>11}{'p50 ms':>9}{'p99 ms':>9}")
    for name, tp, p50, p99, offered in rows:
        print(f"{name:<24}{tp:>9.0f}{tp / bare:>8.0%}{offered:>11.0f}{p50:>9.1f}{p99:>9.1f}")
    if not os.environ.get(PG_ENV):
        print(f"(set {PG_ENV} to compare PostgreSQL in the same run)")
