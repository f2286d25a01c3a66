"""Signed Events API deliveries, sent in order from a background thread so no API call waits on a receiver.

Slack retries a delivery that is not answered 2xx within 3 seconds, up to three times, with
``X-Slack-Retry-Num`` (1..3) and ``X-Slack-Retry-Reason``; each attempt is signed afresh
(``X-Slack-Request-Timestamp`` + ``X-Slack-Signature``). Real Slack waits about 1 and 5 minutes between
retries; the emulator waits ``backoff`` seconds so tests stay fast. A receiver that answers
``X-Slack-No-Retry: 1`` is not retried.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from caseroom_sandbox.outbox import Outbox
from caseroom_sandbox.slack.wire import sign

log = logging.getLogger(__name__)
TIMEOUT = 3.0  # seconds Slack waits for an answer
RETRIES = 3


@dataclass
class Delivery:
    """One attempt to deliver one payload (a retried payload appears once per attempt)."""

    kind: str  # "event" | "command" | "url_verification"
    url: str
    retry_num: int
    retry_reason: str | None
    status: int | None
    error: str | None
    body: dict[str, Any]
    raw: str
    headers: dict[str, str]
    response: str | None
    at: float
    no_retry: bool = False  # the receiver answered ``X-Slack-No-Retry: 1``


@dataclass
class Job:
    kind: str
    url: str
    raw: bytes
    content_type: str
    body: dict[str, Any]


class Dispatcher(Outbox[Job]):
    def __init__(self, secret: str, *, timeout: float = TIMEOUT, retries: int = RETRIES,
                 backoff: tuple[float, ...] = (0.05, 0.1, 0.2)) -> None:  # fmt: skip
        super().__init__("slack-emulator-events", timeout)
        self.secret = secret
        self.retries = retries
        self.backoff = backoff

    # -- sending --------------------------------------------------------------------------------------
    def headers(self, raw: bytes, content_type: str) -> dict[str, str]:
        stamp = str(int(time.time()))
        return {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(self.secret, stamp, raw),
        }

    def enqueue(self, kind: str, url: str, body: dict[str, Any]) -> None:
        raw = json.dumps(body, separators=(",", ":")).encode()
        self._put(Job(kind, url, raw, "application/json", body))

    def send_now(self, kind: str, url: str, raw: bytes, content_type: str, body: dict[str, Any]) -> Delivery:
        """One attempt, synchronously, no retries (slash commands: Slack shows the user a timeout instead)."""
        with httpx.Client(timeout=self.timeout) as client:
            return self._attempt(client, Job(kind, url, raw, content_type, body), 0, None)

    def _send(self, client: httpx.Client, job: Job) -> None:
        reason: str | None = None
        for retry in range(self.retries + 1):
            if retry:
                time.sleep(self.backoff[min(retry - 1, len(self.backoff) - 1)])
            done = self._attempt(client, job, retry, reason)
            if done.no_retry or (done.status is not None and 200 <= done.status < 300):
                return
            reason = _reason(done)
        log.warning("slack emulator: %s to %s failed after %d retries", job.kind, job.url, self.retries)

    def _attempt(self, client: httpx.Client, job: Job, retry: int, reason: str | None) -> Delivery:
        headers = self.headers(job.raw, job.content_type)
        if retry:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = reason or "http_error"
        status: int | None = None
        error: str | None = None
        text: str | None = None
        no_retry = False
        try:
            resp = client.post(job.url, content=job.raw, headers=headers, timeout=self.timeout)
            status, text = resp.status_code, resp.text
            no_retry = resp.headers.get("x-slack-no-retry") == "1"
        except httpx.TimeoutException as exc:
            error = f"timeout: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(job.kind, job.url, retry, reason if retry else None, status, error, job.body,
                            job.raw.decode(), headers, text, time.time(), no_retry)  # fmt: skip
        self._record(delivery)
        return delivery


def _reason(delivery: Delivery) -> str:
    if delivery.error is None:
        return "http_error"
    return "http_timeout" if delivery.error.startswith("timeout") else "connection_failed"
