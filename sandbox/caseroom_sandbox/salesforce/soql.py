"""A small SOQL subset: enough for the queries CaseRoom and its tests send, refused the way Salesforce does.

Grammar: ``SELECT (COUNT() | path, ...) FROM Object [WHERE cond] [ORDER BY path [ASC|DESC] [NULLS FIRST|LAST],
...] [LIMIT n] [OFFSET n]`` where ``cond`` combines ``path op literal``, ``path [NOT] IN (literal, ...)`` and
``path LIKE 'pattern'`` with AND, OR, NOT and parentheses, and ``path`` is ``Field`` or ``Relationship.Field``
(one level). Literals: quoted strings with the escapes ``simple_salesforce.format_soql`` writes, numbers,
``true``/``false``/``null``, unquoted datetimes (``2026-11-22T00:00:00Z`` or ``+00:00``) and dates.
Text comparisons are case-insensitive and ids match in 15- or 18-character form, as in Salesforce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from caseroom_sandbox.salesforce.schema import NAME_FIELDS, OBJECTS, Field, SObjectType, object_type
from caseroom_sandbox.salesforce.wire import SalesforceError, parse_datetime

TOKEN = re.compile(
    r"""\s*(?:(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2})
    |(?P<number>-?\d+(?:\.\d+)?)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),])
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?))""",
    re.X | re.S,
)
ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
            "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE"}  # fmt: skip
LINK_KEYS = ("ContentDocumentId", "LinkedEntityId")


def malformed(message: str) -> SalesforceError:
    return SalesforceError(400, "MALFORMED_QUERY", message)


@dataclass
class Literal:
    kind: str  # string, number, datetime, date, null, bool
    value: Any
    raw: str


@dataclass
class Path:
    text: str
    relationship: str | None
    field: Field | None  # None for the Name pseudo-object's fields
    name: str


@dataclass
class Cond:
    op: str  # = != < <= > >= IN NOT IN LIKE AND OR NOT
    path: Path | None = None
    values: list[Literal] = field(default_factory=list)
    children: list[Cond] = field(default_factory=list)


@dataclass
class Query:
    obj: SObjectType
    paths: list[Path]
    count: bool
    where: Cond | None
    order: list[tuple[Path, bool, bool]]  # (path, descending, nulls last)
    limit: int | None
    offset: int


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text.rstrip()):
        match = TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            fragment = text[pos:].strip().split()[0] if text[pos:].strip() else text[pos:]
            raise malformed(f"unexpected token: '{fragment[:20]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def unescape(raw: str, *, like: bool = False) -> str:
    out, chars = [], iter(raw[1:-1])
    for ch in chars:
        if ch != "\\":
            out.append(ch)
            continue
        nxt = next(chars, "")
        if like and nxt in "%_":
            out.append("\\" + nxt)
        elif nxt in ESCAPES:
            out.append(ESCAPES[nxt])
        else:
            raise malformed(f"Invalid string literal {raw}. Illegal character sequence '\\{nxt}' in string literal.")
    return "".join(out)


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.obj: SObjectType | None = None

    def peek(self, upper: bool = True) -> str:
        if self.pos >= len(self.tokens):
            return ""
        return self.tokens[self.pos][1].upper() if upper else self.tokens[self.pos][1]

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise malformed("unexpected end of query")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expect(self, word: str) -> None:
        _kind, value = self.take()
        if value.upper() != word:
            raise malformed(f"unexpected token: '{value}'")

    def parse(self) -> Query:
        self.expect("SELECT")
        count, names = False, []
        if self.peek() == "COUNT":
            self.take()
            self.expect("(")
            self.expect(")")
            count = True
        else:
            while True:
                kind, value = self.take()
                if kind != "name" or value.upper() in KEYWORDS:
                    raise malformed(f"unexpected token: '{value}'")
                names.append(value)
                if self.peek() != ",":
                    break
                self.take()
        self.expect("FROM")
        kind, obj_name = self.take()
        obj = object_type(obj_name) if kind == "name" else None
        if obj is None:
            message = (f"sObject type '{obj_name}' is not supported. If you are attempting to use a custom object, "
                       "be sure to append the '__c' after the entity name.")  # fmt: skip
            raise SalesforceError(400, "INVALID_TYPE", message)
        self.obj = obj
        paths = [self.path(n) for n in names]
        where = None
        if self.peek() == "WHERE":
            self.take()
            where = self.disjunction()
        order = []
        if self.peek() == "ORDER":
            self.take()
            self.expect("BY")
            while True:
                path = self.path(self.take()[1])
                desc = self.peek() == "DESC"
                if self.peek() in ("ASC", "DESC"):
                    self.take()
                nulls_last = desc
                if self.peek() == "NULLS":
                    self.take()
                    nulls_last = self.take()[1].upper() == "LAST"
                order.append((path, desc, nulls_last))
                if self.peek() != ",":
                    break
                self.take()
        limit = self.integer("LIMIT")
        offset = self.integer("OFFSET") or 0
        if self.pos != len(self.tokens):
            raise malformed(f"unexpected token: '{self.peek(upper=False)}'")
        return Query(obj, paths, count, where, order, limit, offset)

    def integer(self, word: str) -> int | None:
        if self.peek() != word:
            return None
        self.take()
        kind, value = self.take()
        if kind != "number" or not value.isdigit():
            raise malformed(f"unexpected token: '{value}'")
        return int(value)

    def path(self, text: str) -> Path:
        assert self.obj is not None
        if text.upper() in KEYWORDS or not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)?", text):
            raise malformed(f"unexpected token: '{text}'")
        head, _, tail = text.partition(".")
        if not tail:
            f = self.obj.field(head)
            if f is None:
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{head}' on entity '{self.obj.name}'.")
            return Path(text, None, f, f.name)
        ref = self.obj.relationship(head)
        if ref is None:
            raise SalesforceError(400, "INVALID_FIELD", f"Didn't understand relationship '{head}' in field path.")
        assert ref.relationship is not None
        if ref.polymorphic:
            name = next((n for n in NAME_FIELDS if n.lower() == tail.lower()), None)
            if name is None:
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{tail}' on entity 'Name'.")
            return Path(text, ref.relationship, None, name)
        target = OBJECTS[ref.refs[0]].field(tail)
        if target is None:
            raise SalesforceError(400, "INVALID_FIELD", f"No such column '{tail}' on entity '{ref.refs[0]}'.")
        return Path(text, ref.relationship, target, target.name)

    def disjunction(self) -> Cond:
        parts = [self.conjunction()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Cond("OR", children=parts)

    def conjunction(self) -> Cond:
        parts = [self.factor()]
        while self.peek() == "AND":
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else Cond("AND", children=parts)

    def factor(self) -> Cond:
        if self.peek() == "NOT":
            self.take()
            return Cond("NOT", children=[self.factor()])
        if self.peek() == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        path = self.path(self.take()[1])
        op = self.take()[1].upper()
        if op == "NOT":
            self.expect("IN")
            op = "NOT IN"
        if op in ("IN", "NOT IN"):
            self.expect("(")
            values = [self.literal()]
            while self.peek() == ",":
                self.take()
                values.append(self.literal())
            self.expect(")")
            return Cond(op, path, values)
        if op == "<>":
            op = "!="
        if op not in ("=", "!=", "<", "<=", ">", ">=", "LIKE"):
            raise malformed(f"unexpected token: '{op}'")
        return Cond(op, path, [self.literal(like=op == "LIKE")])

    def literal(self, like: bool = False) -> Literal:
        kind, raw = self.take()
        if kind == "string":
            return Literal("string", unescape(raw, like=like), raw)
        if kind == "number":
            return Literal("number", float(raw), raw)
        if kind == "datetime":
            return Literal("datetime", parse_datetime(raw), raw)
        if kind == "date":
            return Literal("date", date.fromisoformat(raw), raw)
        if kind == "name" and raw.upper() in ("NULL", "TRUE", "FALSE"):
            word = raw.upper()
            return Literal("null", None, raw) if word == "NULL" else Literal("bool", word == "TRUE", raw)
        raise malformed(f"unexpected token: '{raw}'")


def parse(text: str) -> Query:
    query = Parser(text).parse()
    if query.where is not None:
        check_types(query.where)
    if query.obj.name == "ContentDocumentLink" and not _filters_link(query.where):
        message = ("Implementation restriction: ContentDocumentLink requires a filter by a single Id on "
                   "ContentDocumentId or LinkedEntityId using the equals operator or multiple Id's using the IN "
                   "operator.")  # fmt: skip
        raise malformed(message)
    return query


def _filters_link(cond: Cond | None) -> bool:
    if cond is None:
        return False
    if cond.op == "AND":
        return any(_filters_link(c) for c in cond.children)
    return cond.op in ("=", "IN") and cond.path is not None and cond.path.text in LINK_KEYS


def check_types(cond: Cond) -> None:
    for child in cond.children:
        check_types(child)
    if cond.path is None or cond.path.field is None:
        return
    f = cond.path.field
    wanted = {"datetime": "dateTime", "boolean": "boolean", "int": "number"}.get(f.type)
    for lit in cond.values:
        if lit.kind == "null" or wanted is None:
            if wanted is None and lit.kind not in ("string", "null"):
                message = f"value of filter criterion for field '{f.name}' must be of type string and should be quoted"
                raise SalesforceError(400, "INVALID_QUERY_FILTER_OPERATOR", message)
            continue
        ok = {"dateTime": ("datetime",), "boolean": ("bool",), "number": ("number",)}[wanted]
        if lit.kind not in ok:
            message = (f"value of filter criterion for field '{f.name}' must be of type {wanted} and should not be "
                       "enclosed in quotes")  # fmt: skip
            raise SalesforceError(400, "INVALID_QUERY_FILTER_OPERATOR", message)
