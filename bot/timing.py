"""ASGI middleware: how long each webhook takes from arrival to acknowledgement (``caseroom_webhook_seconds``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from bot import metrics


class WebhookTimer:
    def __init__(self, app: Any, sources: Mapping[str, str]) -> None:
        self.app = app
        self.sources = dict(sources)  # route path -> source label: the core's and each plugin's webhooks

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        source = self.sources.get(scope.get("path", "")) if scope["type"] == "http" else None
        if source is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            metrics.WEBHOOK_SECONDS.labels(source=source).observe(time.perf_counter() - started)
