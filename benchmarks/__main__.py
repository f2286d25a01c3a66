"""Run the benchmarks in one process and print the figures side by side.

    python -m benchmarks [--quick] [--only NAME ...]

Each benchmark measures the variants it compares in the same run, on the same machine, so the ratios
mean something even where the absolute numbers do not travel. Set CASEROOM_TEST_POSTGRES_URL to add
PostgreSQL where a benchmark compares databases.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import warnings
from datetime import UTC, datetime

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from benchmarks import bounded_reads, burst, export_calls, ingest, job_claim, open_latency, transcript_memory  # noqa: E402  (after the filter)

BENCHMARKS = {
    "ingest": ingest.run,
    "open": open_latency.run,
    "burst": burst.run,
    "export": export_calls.run,
    "transcript": transcript_memory.run,
    "claim": job_claim.run,
    "reads": bounded_reads.run,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke test of the benchmarks)")
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    args = ap.parse_args()
    # Retries under rate limits are the point of some runs: their warnings would bury the tables.
    logging.basicConfig(level=logging.ERROR)
    with open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.python_implementation()} {platform.python_version()}, "
          f"{cpu}")  # fmt: skip
    for name in args.only or BENCHMARKS:
        BENCHMARKS[name](quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
