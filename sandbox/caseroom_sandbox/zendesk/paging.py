"""The two list paginations of the Support API, chosen per request as Zendesk chooses them.

``page[size]``/``page[after]``/``page[before]`` ask for cursor pagination: ``meta`` {has_more, after_cursor,
before_cursor} and ``links`` {next, prev}, at most 100 per page. Anything else is offset pagination:
``next_page``/``previous_page`` URLs and ``count``, ``per_page`` at most 100 (default: the emulator's
``page_size``, so tests can force paging).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from caseroom_sandbox.zendesk.wire import ZendeskError, decode_cursor, encode_cursor

MAX_PAGE = 100


def _size(raw: str | None, default: int, name: str) -> int:
    if raw is None:
        return min(default, MAX_PAGE)
    if not raw.isdigit() or int(raw) < 1:
        description = f"{name} must be a positive integer"
        raise ZendeskError(400, {"error": "InvalidPaginationParameter", "description": description})
    return min(int(raw), MAX_PAGE)


def paged(
    request: Request, items: list[dict[str, Any]], key: str, default_size: int, *, cursor_only: bool = False
) -> dict[str, Any]:
    """One page of ``items`` under ``key``; ``cursor_only`` for APIs without offset pagination (webhooks)."""
    q = request.query_params
    if cursor_only or any(name in q for name in ("page[size]", "page[after]", "page[before]")):
        return _cursor_page(request, items, key, _size(q.get("page[size]"), default_size, "page[size]"))
    size = _size(q.get("per_page"), default_size, "per_page")
    page = _size(q.get("page"), 1, "page") if "page" in q else 1
    start = (page - 1) * size
    out: dict[str, Any] = {key: items[start : start + size], "next_page": None, "previous_page": None,
                           "count": len(items)}  # fmt: skip
    if start + size < len(items):
        out["next_page"] = str(request.url.include_query_params(page=page + 1, per_page=size))
    if page > 1:
        out["previous_page"] = str(request.url.include_query_params(page=page - 1, per_page=size))
    return out


def _position(items: list[dict[str, Any]], raw: str) -> int:
    parts = decode_cursor(raw)
    if parts is None or not isinstance(parts.get("i"), int):
        raise ZendeskError(400, {"error": "InvalidPaginationParameter", "description": "invalid cursor"})
    ids = [item.get("id") for item in items]
    return ids.index(parts.get("id")) if parts.get("id") in ids else min(int(parts["i"]), len(items))


def _cursor_page(request: Request, items: list[dict[str, Any]], key: str, size: int) -> dict[str, Any]:
    q = request.query_params
    if "page[before]" in q:
        end = _position(items, q["page[before]"])
        start = max(0, end - size)
        has_more = start > 0
    else:
        start = _position(items, q["page[after]"]) + 1 if "page[after]" in q else 0
        end = min(len(items), start + size)
        has_more = end < len(items)
    page = items[start:end]
    after = encode_cursor({"id": page[-1].get("id"), "i": end - 1}) if page else None
    before = encode_cursor({"id": page[0].get("id"), "i": start}) if page else None
    base = request.url.remove_query_params(["page[after]", "page[before]"])
    return {
        key: page,
        "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
        "links": {"next": str(base.include_query_params(**{"page[after]": after})) if after else None,
                  "prev": str(base.include_query_params(**{"page[before]": before})) if before else None},
    }  # fmt: skip
