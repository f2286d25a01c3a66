"""Zendesk's wire conventions: timestamps, ids, opaque cursors and the error bodies each API family answers with.

Support API errors are ``{"error": ..., "description": ..., "details": {...}}`` (422 ``RecordInvalid`` keyed by the
offending field, 404 ``RecordNotFound``); the Webhooks API, a separate service, answers ``{"errors": [...]}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")  # in Zendesk's order (less_than/greater_than)
STATUS_NAMES = {"new": "New", "open": "Open", "pending": "Pending", "hold": "On-hold", "solved": "Solved",
                "closed": "Closed"}  # fmt: skip
PRIORITIES = ("low", "normal", "high", "urgent")
ROLES = ("end-user", "agent", "admin")
TOKEN_ALPHABET = string.ascii_letters + string.digits
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class ZendeskError(Exception):
    """Raised below a route; the app answers ``body`` (JSON unless it is a string) with ``status``."""

    def __init__(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found() -> ZendeskError:
    return ZendeskError(404, {"error": "RecordNotFound", "description": "Not found"})


def invalid_endpoint() -> ZendeskError:
    return ZendeskError(404, {"error": "InvalidEndpoint", "description": "Not found"})


def invalid(field: str, description: str, error: str | None = None) -> ZendeskError:
    """422 ``RecordInvalid``: the body Zendesk gives any failed validation, details keyed by the field."""
    detail: dict[str, str] = {"description": description}
    if error:
        detail["error"] = error
    return ZendeskError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                              "details": {field: [detail]}})  # fmt: skip


def bad_value(description: str, status: int = 400) -> ZendeskError:
    return ZendeskError(status, {"error": "InvalidValue", "description": description})


def webhook_error(status: int, code: str, title: str, pointer: str | None = None) -> ZendeskError:
    """The Webhooks API's own error shape (a JSON:API-style ``errors`` list)."""
    entry: dict[str, Any] = {"code": code, "title": title}
    if pointer:
        entry["source"] = {"pointer": pointer}
    return ZendeskError(status, {"errors": [entry]})


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status_code=status, headers=headers, media_type="application/json")


def error_response(exc: ZendeskError) -> Response:
    if isinstance(exc.body, str):
        return Response(exc.body, status_code=exc.status, headers=exc.headers, media_type="text/plain")
    return json_response(exc.body, exc.status, exc.headers)


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``2026-11-22T18:04:05Z``: UTC, whole seconds, as every Zendesk timestamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def token(length: int = 25) -> str:
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(length))


def ulid() -> str:
    """A ULID-shaped id (``01H...``, 26 Crockford base32 characters), as webhooks and invocations carry."""
    stamp = int(now().timestamp() * 1000)
    value = (stamp << 80) | secrets.randbits(80)
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def encode_cursor(parts: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> dict[str, Any] | None:
    """The parts of a cursor this emulator issued, or None for anything else (callers answer 400)."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):
        return None
    return parts if isinstance(parts, dict) else None
