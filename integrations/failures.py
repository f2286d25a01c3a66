"""What a failure tells the job queue, by its type: every port's errors and the core's own derive from these.

The queue (``bot/jobs.py``) asks ``isinstance`` and nothing else, so an adapter's own subclasses (Slack's
refusals, Salesforce's not-found) are understood without the core knowing them.
"""

from __future__ import annotations


def retry_after_seconds(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` header in seconds; ``None`` when absent or an HTTP date (the backoff decides then)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Permanent(Exception):
    """Retrying cannot help (refused, not found, misconfigured): the job goes straight to the dead letter."""


class Deferral(Exception):
    """Not yet, and not a failure (a pacer's window, work still to finish): rescheduled, no attempt counted.

    A subclass sets ``retry_after`` (seconds) when it knows how long to wait.
    """

    retry_after: float | None = None
