"""Outgoing webhook deliveries of an emulator: a queue worked by one daemon thread, and the log of attempts.

Both emulators that call the product back (Webex webhooks, Slack events) send the same way: queued, in
order, by one thread with its own HTTP client; tests wait with ``flush`` and read ``deliveries``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import asdict
from typing import Any, Generic, TypeVar

import httpx

log = logging.getLogger(__name__)

Item = TypeVar("Item")


class Outbox(Generic[Item]):
    def __init__(self, name: str, timeout: float) -> None:
        self.name = name
        self.timeout = timeout
        self._queue: queue.Queue[Item] = queue.Queue()
        self._lock = threading.Lock()
        self._deliveries: list[Any] = []  # dataclass records of each attempt
        self._thread: threading.Thread | None = None

    def _send(self, client: httpx.Client, item: Item) -> None:
        raise NotImplementedError

    def _put(self, item: Item) -> None:
        self._queue.put(item)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                item = self._queue.get()
                try:
                    self._send(client, item)
                except Exception:  # pragma: no cover - never let the worker die
                    log.exception("%s: a delivery failed", self.name)
                finally:
                    self._queue.task_done()

    def _record(self, delivery: Any) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(d) for d in self._deliveries]

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued delivery is done (delivered or given up on); True when none is left."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def clear(self) -> None:
        with self._lock:
            self._deliveries.clear()
