"""Client-side pacing: stay under a platform's per-method rate limits instead of discovering them by 429.

A platform that rate-limits answers 429 with Retry-After; every worker that calls in the meantime gets one
too, and each is a retry of a job. A ``Pacer`` keeps the same sliding window the platform keeps, per method,
for this process: a call that would exceed it waits briefly (under ``max_wait``) or is not sent at all and the
job is deferred (``Paced``: not a failure, no attempt used). A 429 that still happens (another client of the
same workspace, a limit we were not told) reschedules only the job that met it, at its Retry-After: one
throttled room must not hold back the others.

Limits are per process: with several replicas, give each its share (``SLACK_RATE_LIMITS`` /
``WEBEX_RATE_LIMITS``, ``method=calls/seconds`` comma-separated).
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated

from pydantic import AfterValidator

from bot.health import HealthRecords
from integrations.failures import Deferral
from integrations.messaging import TransientPlatformError

Rate = tuple[int, float]  # calls per seconds
SPEC = re.compile(r"^\s*([\w.]+)\s*=\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")
SAFETY = 1.02  # the platform counts arrivals, we count departures: leave a little room


class Paced(TransientPlatformError, Deferral):
    """Not sent: sending now would exceed the method's rate. The job is deferred, not failed."""


def parse(spec: str) -> dict[str, Rate]:
    """``"conversations.create=20/60, chat.postMessage=1/1"`` -> ``{"conversations.create": (20, 60.0), ...}``."""
    rates: dict[str, Rate] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        m = SPEC.match(part)
        if not m or int(m.group(2)) < 1 or float(m.group(3)) <= 0:
            raise ValueError(f"bad rate limit {part!r}: expected method=calls/seconds, e.g. rooms.create=20/60")
        rates[m.group(1)] = (int(m.group(2)), float(m.group(3)))
    return rates


def _valid(spec: str) -> str:
    if spec:
        parse(spec)  # raises ValueError with the offending part
    return spec


RateLimits = Annotated[str, AfterValidator(_valid)]  # a settings field holding a spec for parse()


class Pacer:
    def __init__(
        self,
        rates: Mapping[str, Rate] | None = None,
        *,
        max_wait: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rates = dict(rates or {})
        self.max_wait = max_wait
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = defaultdict(deque)

    def acquire(self, method: str) -> None:
        """Return when ``method`` may be sent (after a short wait at most); raise ``Paced`` otherwise."""
        while True:
            wait = self._take(method)
            if wait <= 0:
                return
            if wait > self.max_wait:
                raise Paced(f"{method}: paced for {wait:.1f}s to stay under the platform's rate", retry_after=wait)
            self._sleep(wait)

    def _take(self, method: str) -> float:
        with self._lock:
            now = self._clock()
            rate = self.rates.get(method)
            if rate is None:
                return 0.0
            limit, per = rate
            window = per * SAFETY
            sent = self._sent[method]
            while sent and sent[0] <= now - window:
                sent.popleft()
            if len(sent) < limit:
                sent.append(now)
                return 0.0
            return sent[0] + window - now


class PacedCalls:
    """How one runtime's adapter sends its calls to one system: paced, timed and reported to the runtime's health.

    Owned by the adapter (its messenger), not its module, so two runtimes in one process keep their own pacing
    and health. Each adapter's subclass translates its SDK's failures inside :meth:`sending`.
    """

    system: str

    def __init__(self, pacer: Pacer, health: HealthRecords | None = None) -> None:
        self.pacer = pacer
        self.health = health or HealthRecords()

    @contextmanager
    def sending(self, method: str) -> Iterator[None]:
        # Health outermost, so it records the adapter's translated error (with its retry_after) and the pacing wait.
        with self.health.observed(self.system):
            self.pacer.acquire(method)
            yield
