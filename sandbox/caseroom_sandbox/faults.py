"""Fault and latency injection shared by the three emulators.

Knobs are seedable so a reliability run or a benchmark can be reproduced exactly. Each emulator
supplies its own responses for a rate limit and a server error, because each platform words them
differently (Webex: JSON with trackingId; Slack: ``{"ok": false, "error": "ratelimited"}``;
Salesforce: a JSON list of errors).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response


@dataclass
class RateLimit:
    limit: int  # calls allowed ...
    per_seconds: float  # ... in this sliding window
    retry_after: int = 1  # what the 429 answers in Retry-After


@dataclass
class Knobs:
    latency_ms: float = 0.0  # added to every API call
    error_rate: float = 0.0  # fraction answered with a 5xx
    rate_limit_rate: float = 0.0  # fraction answered with a 429 regardless of counts
    timeout_rate: float = 0.0  # fraction that hang for ``timeout_s`` then fail
    timeout_s: float = 30.0
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)  # per method name
    seed: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "rate_limit_rate": self.rate_limit_rate,
            "timeout_rate": self.timeout_rate,
            "timeout_s": self.timeout_s,
            "rate_limits": {k: vars(v) for k, v in self.rate_limits.items()},
            "seed": self.seed,
        }


class FaultInjector:
    """Decides, per call, whether to delay, fail, rate-limit or hang it."""

    def __init__(self, knobs: Knobs | None = None) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self.configure(knobs or Knobs())

    def configure(self, knobs: Knobs) -> None:
        with self._lock:
            self.knobs = knobs
            self._rng = random.Random(knobs.seed)
            self._calls.clear()

    def update(self, **changes: object) -> Knobs:
        data = self.knobs.to_dict() | changes
        limits = data.pop("rate_limits") or {}
        assert isinstance(limits, dict)
        knobs = Knobs(**data, rate_limits={k: RateLimit(**v) for k, v in limits.items()})  # type: ignore[arg-type]
        self.configure(knobs)
        return knobs

    def decide(self, method: str) -> tuple[str, int]:
        """Return ("ok"|"error"|"ratelimit"|"timeout", retry_after)."""
        with self._lock:
            k = self.knobs
            roll = self._rng.random()
            if roll < k.timeout_rate:
                return "timeout", 0
            roll -= k.timeout_rate
            if roll < k.error_rate:
                return "error", 0
            roll -= k.error_rate
            if roll < k.rate_limit_rate:
                return "ratelimit", 1
            limit = k.rate_limits.get(method)
            if limit:
                now = time.monotonic()
                window = self._calls[method]
                while window and now - window[0] > limit.per_seconds:
                    window.popleft()
                if len(window) >= limit.limit:
                    return "ratelimit", limit.retry_after
                window.append(now)
            return "ok", 0

    async def apply(
        self,
        method: str,
        request: Request,
        call_next: Callable[[Request], Awaitable[Response]],
        *,
        on_ratelimit: Callable[[int], Response],
        on_error: Callable[[], Response],
    ) -> Response:
        if self.knobs.latency_ms:
            await asyncio.sleep(self.knobs.latency_ms / 1000)
        verdict, retry_after = self.decide(method)
        if verdict == "ratelimit":
            return on_ratelimit(retry_after)
        if verdict == "error":
            return on_error()
        if verdict == "timeout":
            await asyncio.sleep(self.knobs.timeout_s)
            return on_error()
        return await call_next(request)
