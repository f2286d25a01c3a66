"""Run every benchmark in one process and print the figures side by side.

    python -m benchmarks [--quick]

Each benchmark measures the variants it compares in the same run, on the same machine, so the ratios
mean something even where the absolute numbers do not travel.
"""

from __future__ import annotations

import argparse
import sys
import warnings

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

from benchmarks import transcript_memory, webhook_ack  # noqa: E402  (after the filter, which must come first)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = ap.parse_args()
    webhook_ack.run(quick=args.quick)
    transcript_memory.run(quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
