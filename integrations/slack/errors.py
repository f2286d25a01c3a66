"""slack_sdk failures -> the port's transient/permanent errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.error import URLError

from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.health import HealthRecords
from integrations.messaging import PermanentPlatformError, TransientPlatformError
from integrations.pacing import PacedCalls, Pacer
from integrations.slack.tiers import DEFAULT_RATES

T = TypeVar("T")
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class SlackRefusal(PermanentPlatformError):
    """Slack answered ``ok: false``; ``code`` is its error code (``name_taken``, ``not_paid`` ...)."""

    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"Slack {method}: {code}")
        self.code = code


class SlackCalls(PacedCalls):
    """Slack calls, errors translated. Slack's tiers by default; the plugin applies ``SLACK_RATE_LIMITS``."""

    system = "slack"

    def __init__(self, pacer: Pacer | None = None, health: HealthRecords | None = None) -> None:
        super().__init__(pacer or Pacer(DEFAULT_RATES), health)

    def call(self, method: str, fn: Callable[..., T], **kwargs: Any) -> T:
        with self.sending(method):
            return _translated(method, fn, **kwargs)


def _translated(method: str, fn: Callable[..., T], **kwargs: Any) -> T:
    try:
        result = fn(**kwargs)
    except SlackApiError as exc:
        response: Any = exc.response
        code = str(response.get("error", "unknown_error")) if response is not None else "unknown_error"
        status = int(getattr(response, "status_code", 200) or 200)
        metrics.API_CALLS.labels(system="slack", method=method, outcome=code).inc()
        if status == 429 or code in TRANSIENT_ERRORS or status >= 500:
            wait = _retry_after(response)
            if status == 429:
                metrics.RATE_LIMIT_WAITS.labels(system="slack").inc()
            raise TransientPlatformError(f"Slack {method}: {code}", retry_after=wait) from exc
        raise SlackRefusal(method, code) from exc
    except (URLError, TimeoutError, ConnectionError) as exc:
        metrics.API_CALLS.labels(system="slack", method=method, outcome="network").inc()
        raise TransientPlatformError(f"Slack {method}: {exc}") from exc
    metrics.API_CALLS.labels(system="slack", method=method, outcome="ok").inc()
    return result


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
