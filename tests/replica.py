"""One CaseRoom replica in its own process, for tests that kill processes or run several at once.

    python -m tests.replica DB_URL STATE_FILE [--deliver EVENT_ID] [--lease SECONDS]

Delivers the standard test case event (optionally) through the HTTP app, then drains the job queue.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.support import case_event, encode, runtime, signed_headers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db_url")
    ap.add_argument("state_file", type=Path)
    ap.add_argument("--deliver")
    ap.add_argument("--lease", type=float, default=120.0)
    ap.add_argument("--until", type=Path, help="keep working until this file exists and the queue is idle")
    args = ap.parse_args()
    rt, _ = runtime(args.db_url, args.state_file, CASEROOM_JOB_LEASE_SECONDS=args.lease)
    if args.deliver:
        body = encode(case_event(args.deliver))
        r = TestClient(rt.app).post("/webhooks/crm", content=body, headers=signed_headers(body))
        r.raise_for_status()
    worker = rt.worker()
    if args.until:
        while not (args.until.exists() and rt.queue.pending() == 0):
            if not worker.run_once():
                time.sleep(0.02)
    else:
        for _ in range(20):
            worker.drain(timeout=10)
    rt.stop()


if __name__ == "__main__":
    main()
