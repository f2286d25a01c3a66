"""What the Webex wire looks like: ids, timestamps, error bodies, mentions and the little HTML Webex renders."""

from __future__ import annotations

import base64
import html
import json
import random
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

TEXT_LIMIT = 7439  # bytes, for text and for markdown (Webex answers 400 beyond it)
MENTION = re.compile(r"<@(personEmail|personId):([^|>]+)(?:\|([^>]*))?>|<@all>")


class WebexError(Exception):
    """An error answered the way Webex answers it: HTTP status + JSON body with a trackingId."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def timestamp(moment: datetime | None = None) -> str:
    """``2026-11-22T18:04:05.123Z``: the only form the SDK's parser accepts (milliseconds, literal Z)."""
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class IdMaker:
    """Ids shaped like real ones: base64 of ``ciscospark://us/KIND/<uuid>``, without padding.

    Seeded so that a reliability run or benchmark sees the same ids every time.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def make(self, kind: str, suffix: str = "") -> str:
        raw = f"ciscospark://us/{kind}/{self.uuid()}{suffix}".encode()
        # URL-safe alphabet: ids travel in query strings and Link headers that the SDK splices by hand.
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def tracking_id(self) -> str:
        return f"ROUTERGW_{self.uuid()}"


def kind_of(webex_id: str) -> str | None:
    """The KIND inside an id, or None if it is not one of ours (lets a wrong kind of id answer 404)."""
    try:
        raw = base64.urlsafe_b64decode(webex_id + "=" * (-len(webex_id) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    parts = raw.split("/")
    return parts[3] if raw.startswith("ciscospark://") and len(parts) > 4 else None


def error_body(message: str, tracking_id: str) -> dict[str, Any]:
    return {"message": message, "errors": [{"description": message}], "trackingId": tracking_id}


def error_response(status: int, message: str, tracking_id: str, headers: dict[str, str] | None = None) -> Response:
    all_headers = {"trackingid": tracking_id, **(headers or {})}
    return json_response(error_body(message, tracking_id), status=status, headers=all_headers)


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Real Webex omits absent fields rather than sending nulls; the SDK reads both, we match the real shape.
    return Response(
        json.dumps(_drop_none(body)), status_code=status, headers=headers, media_type="application/json;charset=UTF-8"
    )


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def check_length(field: str, value: str | None) -> None:
    if value is not None and len(value.encode()) > TEXT_LIMIT:
        raise WebexError(400, f"Message {field} exceeds the maximum length of {TEXT_LIMIT} bytes.")


def markdown_mentions(markdown: str) -> tuple[list[tuple[str, str]], bool]:
    """``<@personEmail:x>`` / ``<@personId:x>`` references and whether ``<@all>`` appears."""
    refs: list[tuple[str, str]] = []
    everyone = False
    for found in MENTION.finditer(markdown):
        if found.group(0) == "<@all>":
            everyone = True
        else:
            refs.append((found.group(1), found.group(2).strip()))
    return refs, everyone


def render_markdown(markdown: str, names: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(text, html) for markdown. ``names`` maps a mention reference to (person id, display name).

    Only mentions, bold and italics are rendered: enough for a client-like ``html`` field, not a Markdown engine.
    """
    text_parts: list[str] = []
    html_parts: list[str] = []
    pos = 0
    for found in MENTION.finditer(markdown):
        before = markdown[pos : found.start()]
        text_parts.append(before)
        html_parts.append(_inline(before))
        if found.group(0) == "<@all>":
            text_parts.append("All")
            html_parts.append(
                '<spark-mention data-object-type="groupMention" data-group-type="all">All</spark-mention>'
            )
        else:
            person_id, name = names.get(found.group(2).strip(), ("", found.group(2)))
            name = found.group(3) or name
            text_parts.append(name)
            html_parts.append(mention_html(person_id, name))
        pos = found.end()
    text_parts.append(markdown[pos:])
    html_parts.append(_inline(markdown[pos:]))
    plain = re.sub(r"(\*\*|__|\*|_)(.+?)\1", r"\2", "".join(text_parts))
    return plain, "<p>" + "".join(html_parts).replace("\n", "<br/>") + "</p>"


def mention_html(person_id: str, name: str) -> str:
    return (
        f'<spark-mention data-object-type="person" data-object-id="{html.escape(person_id)}">'
        f"{html.escape(name)}</spark-mention>"
    )


def _inline(fragment: str) -> str:
    escaped = html.escape(fragment, quote=False)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"(?<![\w*])_(.+?)_(?![\w*])", r"<em>\1</em>", escaped)
