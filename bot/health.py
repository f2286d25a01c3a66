"""How each outside system has been answering this process: last success, last error, rate-limit waits.

Adapters report here from the one place they already count their API calls (``integrations/*/errors.py``);
the dashboard reads it together with the Prometheus counters. The record is per process on purpose: it
answers "is this replica able to talk to Webex right now", which a shared table would blur across replicas.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import ParamSpec, TypeVar

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.samples import Sample

from bot import metrics
from bot.models import utcnow

P = ParamSpec("P")
T = TypeVar("T")
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


_lock = threading.Lock()
_records: dict[str, IntegrationHealth] = {}


def success(system: str, at: datetime | None = None) -> None:
    with _lock:
        old = _records.get(system, IntegrationHealth(system))
        _records[system] = replace(old, calls_ok=old.calls_ok + 1, last_success_at=at or utcnow())


def failure(system: str, error: BaseException | str, at: datetime | None = None) -> None:
    when = at or utcnow()
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    wait = None if isinstance(error, str) else getattr(error, "retry_after", None)
    with _lock:
        old = _records.get(system, IntegrationHealth(system))
        new = replace(old, calls_failed=old.calls_failed + 1, last_error_at=when, last_error=text[:ERROR_TEXT_LIMIT])
        if isinstance(wait, int | float):
            new = replace(new, rate_limit_waits=new.rate_limit_waits + 1, last_wait_at=when, last_wait_seconds=wait)
        _records[system] = new


@contextmanager
def observed(system: str) -> Iterator[None]:
    """Record the outcome and duration of the calls made inside; the exception itself goes on unchanged."""
    started = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        failure(system, exc)
        raise
    finally:
        metrics.API_SECONDS.labels(system=system).observe(time.perf_counter() - started)
    success(system)


def observe(system: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorator form of :func:`observed`, for an adapter's single call wrapper."""

    def wrap(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> T:
            with observed(system):
                return fn(*args, **kwargs)

        return inner

    return wrap


def observed_context(system: str) -> Callable[[Callable[P, Iterator[None]]], Callable[P, AbstractContextManager[None]]]:
    """Like ``@contextmanager``, and records the outcome of the block: for an adapter's own error translator."""

    def wrap(gen: Callable[P, Iterator[None]]) -> Callable[P, AbstractContextManager[None]]:
        inner_cm = contextmanager(gen)

        @contextmanager
        @functools.wraps(gen)
        def outer(*args: P.args, **kwargs: P.kwargs) -> Iterator[None]:
            # Outermost, so what is recorded is the adapter's translated error (with its retry_after).
            with observed(system), inner_cm(*args, **kwargs):
                yield

        return outer

    return wrap


def snapshot() -> dict[str, IntegrationHealth]:
    """Every system heard from, here or in the Prometheus counters (an adapter that counts but does not report)."""
    with _lock:
        found = dict(_records)
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


def reset() -> None:
    """Forget everything (tests)."""
    with _lock:
        _records.clear()


def _samples(collector: MetricWrapperBase) -> Iterator[Sample]:
    for family in collector.collect():
        for sample in family.samples:
            # Counters expose *_total and *_created; only the running total is a count of calls.
            if not sample.name.endswith("_created"):
                yield sample


def _label_values(collector: MetricWrapperBase, label: str) -> set[str]:
    return {s.labels[label] for s in _samples(collector) if label in s.labels}
