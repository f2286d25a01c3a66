"""A short-lived cache of CRM users read as people, shared by every CRM adapter.

A case re-read asks for its owner every time; owners' e-mail and time zone change rarely, so a few minutes of
staleness saves one user read per job. Misses (``None``: no such user, or a user without e-mail) are cached too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from integrations.crm import Person

K = TypeVar("K", bound=Hashable)

DEFAULT_TTL = 300.0


class PeopleCache(Generic[K]):
    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._seen: dict[K, tuple[float, Person | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, read: Callable[[K], Person | None]) -> Person | None:
        """The cached person under ``key``, else ``read(key)``, remembered for ``ttl`` seconds."""
        now = self._clock()
        with self._lock:
            hit = self._seen.get(key)
            if hit and now - hit[0] < self.ttl:
                return hit[1]
        # Read outside the lock: two threads may both read a cold key, which is cheaper than serialising all reads.
        person = read(key)
        with self._lock:
            self._seen[key] = (now, person)
        return person
