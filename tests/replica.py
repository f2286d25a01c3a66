"""One CaseRoom replica in its own process, for tests that kill processes or run several at once.

    python -m tests.replica DB_URL STATE_FILE [--deliver EVENT_ID] [--lease SECONDS] [--until FILE]

Delivers the standard test case event (optionally) through the HTTP app, then drains the job queue.

Tests start replicas with ``start()``: a real process (its own interpreter state, killable with SIGKILL), forked
from a forkserver that has imported the service once, so a restart costs milliseconds instead of the ~2 s of
CPU a fresh interpreter spends importing FastAPI, SQLAlchemy and the SDKs (a burst test restarts many).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

from fastapi.testclient import TestClient

from tests.support import case_event, encode, runtime, signed_headers

_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload([__name__])


def start(*args: str, log: Path | None = None) -> BaseProcess:
    """Start ``python -m tests.replica ARGS`` as a forked process; its stderr goes to ``log`` when given."""
    proc = _FORKS.Process(target=_child, args=(list(args), str(log) if log else None), daemon=True)
    proc.start()
    return proc


def _child(args: list[str], log: str | None) -> None:
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 2)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    main(args)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("db_url")
    ap.add_argument("state_file", type=Path)
    ap.add_argument("--deliver")
    ap.add_argument("--lease", type=float, default=120.0)
    ap.add_argument("--until", type=Path, help="keep working until this file exists and the queue is idle")
    args = ap.parse_args(argv)
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
