"""Webex SDK failures -> the port's transient/permanent errors, so the job queue knows whether to retry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import requests
from webexpythonsdk.exceptions import ApiError, MalformedResponse, RateLimitError

from bot import metrics
from bot.health import HealthRecords
from integrations.failures import retry_after_seconds
from integrations.messaging import PermanentPlatformError, TransientPlatformError
from integrations.pacing import PacedCalls, Pacer

T = TypeVar("T")
# 423: a file is still being virus-scanned. 409 is handled where it means "already done".
TRANSIENT_STATUSES = {408, 423, 425, 429, 500, 502, 503, 504}
def retry_after(resp: requests.Response | None) -> float | None:
    return retry_after_seconds(resp.headers.get("Retry-After")) if resp is not None else None


class WebexCalls(PacedCalls):
    """Webex calls, errors translated. No rates by default (Webex publishes none per method): a 429 reschedules
    its job at Retry-After. The plugin applies ``WEBEX_RATE_LIMITS``."""

    system = "webex"

    def __init__(self, pacer: Pacer | None = None, health: HealthRecords | None = None) -> None:
        super().__init__(pacer or Pacer(), health)

    @contextmanager
    def translated(self, method: str) -> Iterator[None]:
        """Run one Webex call; count it; re-raise its failure as the port's error."""
        with self.sending(method):
            try:
                yield
            except RateLimitError as exc:
                metrics.RATE_LIMIT_WAITS.labels(system="webex").inc()
                metrics.API_CALLS.labels(system="webex", method=method, outcome="429").inc()
                raise TransientPlatformError(f"Webex {method}: rate limited", retry_after=exc.retry_after) from exc
            except ApiError as exc:
                metrics.API_CALLS.labels(system="webex", method=method, outcome=str(exc.status_code)).inc()
                message = f"Webex {method}: HTTP {exc.status_code} {_detail(exc)}".strip()
                if exc.status_code in TRANSIENT_STATUSES:
                    raise TransientPlatformError(message, retry_after=retry_after(exc.response)) from exc
                raise PermanentPlatformError(message) from exc
            except (requests.ConnectionError, requests.Timeout, MalformedResponse) as exc:
                metrics.API_CALLS.labels(system="webex", method=method, outcome="network").inc()
                raise TransientPlatformError(f"Webex {method}: {type(exc).__name__}: {exc}") from exc
            else:
                metrics.API_CALLS.labels(system="webex", method=method, outcome="ok").inc()

    def call(self, method: str, fn: Callable[[], T]) -> T:
        with self.translated(method):
            return fn()


def status_of(exc: BaseException) -> int | None:
    cause = exc.__cause__
    return cause.status_code if isinstance(cause, ApiError) else None


def _detail(exc: ApiError) -> str:
    try:
        body = exc.response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""
