"""Salesforce's wire conventions: timestamps, ids with their checksum suffix, and JSON error lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


class SalesforceError(Exception):
    """Raised anywhere below a route; the app turns it into ``[{"message","errorCode","fields"}]``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}


def error_body(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = fields
    return [entry]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status_code=status, headers=headers, media_type="application/json")


def error_response(
    status: int, code: str, message: str, fields: list[str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    return json_response(error_body(code, message, fields), status, headers)


def now() -> datetime:
    return datetime.now(UTC)


def sf_datetime(moment: datetime) -> str:
    """REST form: ``2026-11-22T18:04:05.000+0000`` (milliseconds, offset without colon)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def soap_datetime(value: str) -> str:
    """SOAP (xsd:dateTime) form used in Outbound Messages: ``2026-11-22T18:04:05.000Z``."""
    return sf_datetime(parse_datetime(value)).replace("+0000", "Z")


def parse_datetime(value: str) -> datetime:
    """Accept the REST form, ``Z`` and ``+00:00`` offsets (what ``format_soql`` writes for datetimes)."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"datetime without an offset: {value!r}")
    return moment.astimezone(UTC)


def base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    if number:
        raise OverflowError("id space exhausted")
    return "".join(reversed(digits))


def id18(id15: str) -> str:
    """Salesforce's case-safe suffix: one character per 5-character chunk, a bit per upper-case letter."""
    suffix = ""
    for start in range(0, 15, 5):
        bits = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if "A" <= ch <= "Z")
        suffix += SUFFIX[bits]
    return id15 + suffix


def same_id(a: str, b: str) -> bool:
    """15- and 18-character forms name the same record; the first 15 characters are case-sensitive."""
    return len(a) in (15, 18) and len(b) in (15, 18) and a[:15] == b[:15]
