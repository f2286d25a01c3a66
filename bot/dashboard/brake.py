"""A brake on guessing the admin token: per client address, wrong tokens in a row earn a growing wait.

The first :data:`FREE_TRIES` wrong tokens cost nothing (people mistype); each one after that locks the address
out for twice as long as the one before, from :data:`FIRST_WAIT` up to :data:`LONGEST_WAIT`. While locked, a
sign-in is refused with 429 and ``Retry-After`` without looking at the token, so a guess during the wait tells
nothing, not even when it is right. A right token after the wait clears the address's record; so does
:data:`FORGET_AFTER` without a failure.

The count lives in this process: with several replicas an address gets its free tries on each. The token is at
least 16 characters, so the brake bounds log noise and load rather than being the only thing between a guesser
and the dashboard. Behind a reverse proxy, let uvicorn take the client from ``X-Forwarded-For``
(``FORWARDED_ALLOW_IPS``), or every client shares the proxy's address and its brake.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot import metrics

log = logging.getLogger(__name__)

FREE_TRIES = 5
FIRST_WAIT = 1.0
LONGEST_WAIT = 15 * 60.0
FORGET_AFTER = 60 * 60.0
MAX_CLIENTS = 10_000  # the oldest record goes first, so a flood of addresses cannot grow memory without bound


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0
    refusals_logged: bool = False


class SignInBrake:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def wait_left(self, client: str) -> int:
        """Whole seconds before ``client`` may try again; 0 means now. A refusal is logged once per lockout."""
        now = self.clock()
        with self._lock:
            record = self._current(client, now)
            if record is None or record.locked_until <= now:
                return 0
            metrics.DASHBOARD_SIGNINS.labels(outcome="locked").inc()
            if not record.refusals_logged:
                record.refusals_logged = True
                log.warning("dashboard sign-in from %s refused while locked out (%d wrong tokens in a row)",
                            client, record.failures)  # fmt: skip
            return max(1, math.ceil(record.locked_until - now))

    def failed(self, client: str) -> int:
        """Count a wrong token; returns the wait it earned in whole seconds (0 while tries are free)."""
        now = self.clock()
        metrics.DASHBOARD_SIGNINS.labels(outcome="wrong").inc()
        with self._lock:
            record = self._current(client, now) or _Record()
            record.failures += 1
            record.last_failure = now
            record.refusals_logged = False
            self._records[client] = record
            self._records.move_to_end(client)
            while len(self._records) > MAX_CLIENTS:
                self._records.popitem(last=False)
            wait = 0.0
            if record.failures > FREE_TRIES:
                wait = min(FIRST_WAIT * 2 ** (record.failures - FREE_TRIES - 1), LONGEST_WAIT)
                record.locked_until = now + wait
        if wait:
            log.warning("dashboard sign-in failed from %s: %d wrong tokens in a row; locked out for %d s",
                        client, record.failures, math.ceil(wait))  # fmt: skip
        else:
            log.warning("dashboard sign-in failed from %s: %d wrong token(s) in a row", client, record.failures)
        return math.ceil(wait)

    def succeeded(self, client: str) -> None:
        metrics.DASHBOARD_SIGNINS.labels(outcome="ok").inc()
        with self._lock:
            self._records.pop(client, None)

    def _current(self, client: str, now: float) -> _Record | None:
        record = self._records.get(client)
        if record is not None and now - record.last_failure > FORGET_AFTER and record.locked_until <= now:
            del self._records[client]
            return None
        return record
