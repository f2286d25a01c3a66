"""Running a parsed SOQL query against the org: filtering, ordering, paging and shaping rows for the wire."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from caseroom_sandbox.salesforce.soql import Cond, Literal, Path, Query
from caseroom_sandbox.salesforce.state import Org, Record
from caseroom_sandbox.salesforce.view import attributes, related
from caseroom_sandbox.salesforce.wire import SalesforceError, parse_datetime


def value_of(org: Org, type_name: str, record: Record, path: Path) -> Any:
    if path.relationship is None:
        return record.get(path.name)
    hop = related(org, type_name, record, path.relationship)
    return hop[2].get(path.name) if hop else None


def _key(path: Path, value: Any) -> Any:
    if value is None:
        return None
    kind = path.field.type if path.field else "string"
    if kind in ("datetime",):
        return parse_datetime(value)
    if kind in ("id", "reference"):
        return str(value)[:15]
    if isinstance(value, bool | int | float):
        return value
    return str(value).casefold()


def _lit_key(path: Path, lit: Literal) -> Any:
    kind = path.field.type if path.field else "string"
    if lit.kind == "string" and kind in ("id", "reference"):
        return lit.value[:15] if len(lit.value) in (15, 18) else lit.value
    if lit.kind == "string":
        return lit.value.casefold()
    if lit.kind == "date":
        return datetime(lit.value.year, lit.value.month, lit.value.day, tzinfo=UTC)
    return lit.value


def matches(org: Org, type_name: str, record: Record, cond: Cond) -> bool:
    if cond.op == "AND":
        return all(matches(org, type_name, record, c) for c in cond.children)
    if cond.op == "OR":
        return any(matches(org, type_name, record, c) for c in cond.children)
    if cond.op == "NOT":
        return not matches(org, type_name, record, cond.children[0])
    assert cond.path is not None
    actual = _key(cond.path, value_of(org, type_name, record, cond.path))
    wanted = [_lit_key(cond.path, lit) for lit in cond.values]
    if cond.op in ("IN", "NOT IN"):
        return (actual in wanted) == (cond.op == "IN")
    if cond.op == "LIKE":
        return actual is not None and _like(cond.values[0].value).fullmatch(str(actual)) is not None
    if cond.op in ("=", "!="):
        return (actual == wanted[0]) == (cond.op == "=")
    if actual is None or wanted[0] is None:
        return False
    try:
        return bool({"<": actual < wanted[0], "<=": actual <= wanted[0], ">": actual > wanted[0],
                     ">=": actual >= wanted[0]}[cond.op])  # fmt: skip
    except TypeError as exc:
        raise SalesforceError(400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on {cond.path.text}") from exc


def _like(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.I | re.S)


def execute(org: Org, query: Query, version: str) -> tuple[int, list[Record]]:
    """Return (totalSize, rows shaped as the REST API answers them)."""
    name = query.obj.name
    with org.lock:
        rows = [r for r in org.records[name].values() if query.where is None or matches(org, name, r, query.where)]
        for path, desc, nulls_last in reversed(query.order):
            present = [r for r in rows if value_of(org, name, r, path) is not None]
            absent = [r for r in rows if value_of(org, name, r, path) is None]
            present.sort(key=lambda r, p=path: _key(p, value_of(org, name, r, p)), reverse=desc)  # type: ignore[misc]
            rows = present + absent if nulls_last else absent + present
        rows = rows[query.offset :]
        if query.limit is not None:
            rows = rows[: query.limit]
        if query.count:
            return len(rows), []
        return len(rows), [shape(org, name, r, query.paths, version) for r in rows]


def shape(org: Org, type_name: str, record: Record, paths: list[Path], version: str) -> Record:
    out: Record = {"attributes": attributes(type_name, record["Id"], version)}
    for path in paths:
        if path.relationship is None:
            out[path.name] = record.get(path.name)
            continue
        hop = related(org, type_name, record, path.relationship)
        if hop is None:
            out[path.relationship] = None
            continue
        real, shown, target = hop
        nested = out.get(path.relationship) or {"attributes": attributes(real, target["Id"], version, shown_as=shown)}
        nested[path.name] = target.get(path.name)
        out[path.relationship] = nested
    return out
