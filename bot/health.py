"""How each outside system has been answering this runtime: last success, last error, rate-limit waits.

Adapters report here from the one place they already count their API calls (``integrations/*/errors.py``);
the dashboard reads it together with the Prometheus counters. The record belongs to the runtime
(``Services.health``), not to the database: it answers "is this replica able to talk to Webex right now",
which a shared table would blur across replicas. The Prometheus counters stay per process, as a scrape sees them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.samples import Sample

from bot import metrics
from bot.models import utcnow

ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True)
class IntegrationHealth:
    system: str
    calls_ok: int = 0
    calls_failed: int = 0
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str = ""
    rate_limit_waits: int = 0  # answers that told us to wait (429, or 503 with Retry-After)
    last_wait_at: datetime | None = None
    last_wait_seconds: float | None = None

    @property
    def status(self) -> str:
        if self.last_error_at is None:
            return "ok" if self.last_success_at else "no calls yet"
        if self.last_success_at is None or self.last_error_at > self.last_success_at:
            return "last call failed"
        return "ok"


class HealthRecords:
    """This runtime's record of each system it called; the adapters it built report into it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, IntegrationHealth] = {}

    def success(self, system: str, at: datetime | None = None) -> None:
        with self._lock:
            old = self._records.get(system, IntegrationHealth(system))
            self._records[system] = replace(old, calls_ok=old.calls_ok + 1, last_success_at=at or utcnow())

    def failure(self, system: str, error: BaseException | str, at: datetime | None = None) -> None:
        when = at or utcnow()
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        wait = None if isinstance(error, str) else getattr(error, "retry_after", None)
        with self._lock:
            old = self._records.get(system, IntegrationHealth(system))
            new = replace(old, calls_failed=old.calls_failed + 1, last_error_at=when,
                          last_error=text[:ERROR_TEXT_LIMIT])  # fmt: skip
            if isinstance(wait, int | float):
                new = replace(new, rate_limit_waits=new.rate_limit_waits + 1, last_wait_at=when, last_wait_seconds=wait)
            self._records[system] = new

    @contextmanager
    def observed(self, system: str) -> Iterator[None]:
        """Record the outcome and duration of the calls made inside; the exception itself goes on unchanged.

        An adapter puts this outermost around its own error translation, so what is recorded is the translated
        error (with its ``retry_after``).
        """
        started = time.perf_counter()
        try:
            yield
        except BaseException as exc:
            self.failure(system, exc)
            raise
        finally:
            metrics.API_SECONDS.labels(system=system).observe(time.perf_counter() - started)
        self.success(system)

    def snapshot(self) -> dict[str, IntegrationHealth]:
        """Every system heard from, here or in the Prometheus counters (an adapter that counts but does not report)."""
        with self._lock:
            found = dict(self._records)
        for system in _label_values(metrics.API_CALLS, "system") | _label_values(metrics.RATE_LIMIT_WAITS, "system"):
            found.setdefault(system, IntegrationHealth(system))
        return dict(sorted(found.items()))


def api_calls(system: str) -> dict[str, int]:
    """Outbound calls of one system by outcome, from the Prometheus counter (all of this process's calls)."""
    out: dict[str, int] = {}
    for sample in _samples(metrics.API_CALLS):
        if sample.labels.get("system") == system:
            outcome = sample.labels.get("outcome", "?")
            out[outcome] = out.get(outcome, 0) + int(sample.value)
    return dict(sorted(out.items()))


def rate_limit_total(system: str) -> int:
    return sum(int(s.value) for s in _samples(metrics.RATE_LIMIT_WAITS) if s.labels.get("system") == system)


def crm_api_usage() -> dict[str, float]:
    """What the CRM last reported about its API allowance (e.g. Salesforce's ``Sforce-Limit-Info``)."""
    return {s.labels.get("kind", "?"): s.value for s in _samples(metrics.CRM_API_USAGE)}


def _samples(collector: MetricWrapperBase) -> Iterator[Sample]:
    for family in collector.collect():
        for sample in family.samples:
            # Counters expose *_total and *_created; only the running total is a count of calls.
            if not sample.name.endswith("_created"):
                yield sample


def _label_values(collector: MetricWrapperBase, label: str) -> set[str]:
    return {s.labels[label] for s in _samples(collector) if label in s.labels}
