"""What the Slack wire looks like: ids, message timestamps, ``{"ok": ...}`` bodies, cursors and signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import string
import threading
import time
from typing import Any

from starlette.responses import Response

ALPHABET = string.ascii_uppercase + string.digits


class SlackError(Exception):
    """An ``ok: false`` answer: HTTP 200 and ``{"ok": false, "error": code}`` unless ``status`` says otherwise."""

    def __init__(self, code: str, *, status: int = 200, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(code)
        self.code = code
        self.status = status
        self.extra = extra or {}
        self.headers = headers or {}


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, headers=headers, media_type="application/json; charset=utf-8")


def ok(**fields: Any) -> Response:
    return json_response({"ok": True, **fields})


def fail(code: str, *, status: int = 200, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return json_response({"ok": False, "error": code, **extra}, status=status, headers=headers)


class IdMaker:
    """Seeded ids shaped like Slack's: a kind letter (C, U, F, B, A, T, Ev, Bk, I) and upper-case alphanumerics."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def make(self, prefix: str, length: int = 10) -> str:
        with self._lock:
            return prefix + "0" + "".join(self._rng.choice(ALPHABET) for _ in range(length))

    def secret(self, length: int = 24) -> str:
        with self._lock:
            return "".join(self._rng.choice(string.ascii_letters + string.digits) for _ in range(length))


class Clock:
    """Message timestamps ``"1712345678.000123"``: wall-clock seconds, unique and increasing per emulator."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def ts(self) -> str:
        with self._lock:
            now = int(time.time() * 1_000_000)
            self._last = max(now, self._last + 1)
            return f"{self._last // 1_000_000}.{self._last % 1_000_000:06d}"


def ts_key(ts: str) -> int:
    seconds, _, micros = ts.partition(".")
    try:
        return int(seconds) * 1_000_000 + int((micros or "0").ljust(6, "0")[:6])
    except ValueError:
        return -1


def encode_cursor(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def decode_cursor(cursor: str | None, prefix: str) -> str | None:
    """The value inside a cursor we issued, or None for no cursor; a foreign cursor is ``invalid_cursor``."""
    if not cursor:
        return None
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise SlackError("invalid_cursor") from exc
    if not raw.startswith(prefix + ":"):
        raise SlackError("invalid_cursor")
    return raw[len(prefix) + 1 :]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}"))``, as ``X-Slack-Signature``."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
