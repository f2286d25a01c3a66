"""How fast a signed webhook is verified, stored and acknowledged: SQLite vs PostgreSQL, 1 vs 4 senders.

The ack path is what Slack's 3-second limit and Salesforce's retries press on: it must stay fast while
workers are busy. Set CASEROOM_TEST_POSTGRES_URL to include PostgreSQL.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from tests.support import PG_ENV, case_event, encode, fresh_postgres_database, runtime, signed_headers


def _measure(db_url: str, state: Path, n: int, senders: int) -> tuple[float, float]:
    rt, _ = runtime(db_url, state)
    client = TestClient(rt.app)
    bodies = [encode(case_event(f"evt_{i}", number=f"{i:08d}")) for i in range(n)]
    latencies: list[float] = []

    def send(body: bytes) -> None:
        t0 = time.perf_counter()
        r = client.post("/webhooks/crm", content=body, headers=signed_headers(body))
        latencies.append(time.perf_counter() - t0)
        assert r.status_code == 200

    start = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, bodies))
    elapsed = time.perf_counter() - start
    rt.stop()
    p95 = statistics.quantiles(latencies, n=20)[18]
    return n / elapsed, p95 * 1000


def run(quick: bool = False) -> None:
    n = 100 if quick else 600
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for senders in (1, 4):
            db = Path(tmp) / f"bench{senders}.db"
            figures = _measure(f"sqlite:///{db}", Path(tmp) / "s.json", n, senders)
            rows.append((f"sqlite, {senders} sender(s)", *figures))
        if os.environ.get(PG_ENV):
            for senders in (1, 4):
                with fresh_postgres_database() as url:
                    figures = _measure(url, Path(tmp) / "p.json", n, senders)
                    rows.append((f"postgresql, {senders} sender(s)", *figures))
    base = rows[0][1]
    print(f"\nwebhook ack path ({n} signed case events each; verify + store delivery + enqueue job + 200)")
    print(f"{'variant':<28}{'acks/s':>10}{'p95 ms':>10}{'vs sqlite x1':>14}")
    for name, rate, p95 in rows:
        print(f"{name:<28}{rate:>10.0f}{p95:>10.1f}{rate / base:>13.2f}x")
    if not os.environ.get(PG_ENV):
        print(f"(set {PG_ENV} to compare PostgreSQL in the same run)")
