"""Full-text search over every case: subject, description, messages, edits, notes and file names.

One interface (:func:`search`, :func:`similar`), two engines chosen by the database: SQLite FTS5 tables
kept current by triggers, or PostgreSQL GIN indexes over ``to_tsvector`` expressions (always current, no
copy). Both stem English (``porter`` / ``english``), so "drops" finds "dropped".

What people type is never handed to the engines' query languages: it is cut into words and each word
is quoted, so operators, column filters and quotes in the input are plain text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlmodel import Session

INDEXED_KINDS = ("message", "message_edited", "note", "file")
_KINDS_SQL = ", ".join(f"'{k}'" for k in INDEXED_KINDS)
MAX_TERMS = 24
CANDIDATES = 50  # best rows per case source read before merging; plenty for a page of cases
_STOP = """a an and are as at be but by can cannot could did do does for from had has have he her his how i if in
into is it its just me my no not of on or our out she so than that the their them then there these they this to too
up us was we were what when where which who why will with would you your since after before again also any all been
being get got please hi hello thanks thank"""
STOPWORDS = frozenset(_STOP.split())


@dataclass(frozen=True)
class Hit:
    case_id: int
    number: str
    subject: str
    status: str
    is_closed: bool
    closed_at: datetime | None
    snippet: str  # plain text; matched words in [brackets]
    score: float  # higher is better; comparable within one search only


def terms(words: str, *, drop_stopwords: bool = False) -> list[str]:
    seen: dict[str, None] = {}
    for w in re.findall(r"\w+", words.lower()):
        if drop_stopwords and (w in STOPWORDS or len(w) < 3):
            continue
        seen.setdefault(w[:64], None)
    return list(seen)[:MAX_TERMS]


def search(
    s: Session,
    words: str,
    *,
    limit: int = 5,
    exclude_case_id: int | None = None,
    closed_only: bool = False,
    any_word: bool = False,
) -> list[Hit]:
    """Cases best matching ``words`` (all of them, or with ``any_word`` any of them), best first."""
    found = terms(words, drop_stopwords=any_word)
    if not found:
        return []
    params: dict[str, Any] = {"exclude": exclude_case_id or -1, "closed": closed_only, "n": CANDIDATES}
    if s.get_bind().dialect.name == "postgresql":
        params["q"] = (" | " if any_word else " & ").join(f"'{w}'" for w in found)
        rows = list(s.execute(text(_PG_TIMELINE), params)) + list(s.execute(text(_PG_CASES), params))
    else:
        params["q"] = (" OR " if any_word else " ").join(f'"{w}"' for w in found)
        rows = list(s.execute(text(_SQLITE_TIMELINE), params)) + list(s.execute(text(_SQLITE_CASES), params))
    return _merge(s, rows, limit)


def similar(s: Session, case_id: int, subject: str, description: str, *, limit: int = 3) -> list[Hit]:
    """Resolved (closed) cases that read like this one: any of the words of its subject and description."""
    return search(s, f"{subject} {description}", limit=limit, exclude_case_id=case_id, closed_only=True, any_word=True)


def describe(hits: list[Hit], title: str, link: Callable[[str], str]) -> str:
    """Hits as plain text for engineers (a private answer, a CRM comment): each case and its passage."""
    lines = [title]
    for n, h in enumerate(hits, 1):
        state = "resolved" if h.is_closed else (h.status or "open")
        lines.append(f"{n}. Case {h.number}: {' '.join(h.subject.split())[:100]} ({state}) {link(h.number)}")
        if h.snippet:
            lines.append(f"   …{h.snippet}…")
    return "\n".join(lines)


def for_room(hits: list[Hit], link: Callable[[str], str]) -> str:
    """The customer-safe form: which cases, not what was said in them (that belongs to other customers)."""
    listed = ", ".join(f"{h.number} ({link(h.number)})" for h in hits)
    return (f"Similar resolved cases: {listed}. Engineers: the passages that matched are on the CRM case; "
            "/case search finds more.")  # fmt: skip


def _merge(s: Session, rows: list[Any], limit: int) -> list[Hit]:
    # A case scores by its best message plus its best subject/description match; the message snippet
    # wins because it says more about what happened.
    best: dict[int, tuple[float, str, bool]] = {}
    for case_id, score, snippet, from_timeline in rows:
        had = best.get(case_id)
        if had is None:
            best[case_id] = (float(score), snippet or "", bool(from_timeline))
            continue
        keep = had[1] if had[2] or not from_timeline else snippet
        best[case_id] = (had[0] + float(score), keep or "", had[2] or bool(from_timeline))
    ranked = sorted(best.items(), key=lambda kv: kv[1][0], reverse=True)[:limit]
    if not ranked:
        return []
    facts = {
        r.id: r
        for r in s.execute(
            text("SELECT id, number, subject, status, is_closed, closed_at FROM cases WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": [case_id for case_id, _ in ranked]},
        )
    }
    return [
        _hit(facts[cid], snip, score) for cid, (score, snip, _) in ranked if cid in facts
    ]


def _hit(row: Any, snippet: str, score: float) -> Hit:
    return Hit(row.id, row.number, row.subject, row.status, bool(row.is_closed), _aware(row.closed_at),
               _clean(snippet), score)  # fmt: skip


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _clean(snippet: str) -> str:
    return " ".join(snippet.split())[:300]


# -- SQLite FTS5 (tables and triggers: migration 0002) ----------------------------------------------
# A message deleted in the room stays in the transcript (the record) but is not offered to other cases.
_NOT_DELETED = """NOT EXISTS (SELECT 1 FROM timeline d WHERE d.case_id = t.case_id AND d.kind = 'message_deleted'
    AND json_extract(d.data, '$.message_id') = json_extract(t.data, '$.message_id'))"""
_SQLITE_TIMELINE = f"""
SELECT case_id, score, snip, 1 FROM (
  SELECT case_id, score, snip, row_number() OVER (PARTITION BY case_id ORDER BY score DESC) AS rn FROM (
    SELECT t.case_id AS case_id, -bm25(timeline_fts) AS score, snippet(timeline_fts, 0, '[', ']', '…', 16) AS snip
    FROM timeline_fts JOIN timeline t ON t.id = timeline_fts.rowid JOIN cases c ON c.id = t.case_id
    WHERE timeline_fts MATCH :q AND c.id != :exclude AND (NOT :closed OR c.is_closed) AND {_NOT_DELETED}
  )
) WHERE rn = 1 ORDER BY score DESC LIMIT :n"""  # noqa: S608 (constants; values are bound)
_SQLITE_CASES = """
SELECT c.id, -bm25(case_fts, 2.0, 1.0) AS score, snippet(case_fts, -1, '[', ']', '…', 16), 0
FROM case_fts JOIN cases c ON c.id = case_fts.rowid
WHERE case_fts MATCH :q AND c.id != :exclude AND (NOT :closed OR c.is_closed)
ORDER BY score DESC LIMIT :n"""

# -- PostgreSQL tsvector (GIN indexes over these expressions: migration 0002) ---------------------------
_PG_TEXT = "to_tsvector('english'::regconfig, text)"
_PG_T_TEXT = "to_tsvector('english'::regconfig, t.text)"  # the same expression, qualified: still the index's
_PG_CASE = "to_tsvector('english'::regconfig, subject || ' ' || description)"
_HEADLINE = "'StartSel=[, StopSel=], MaxWords=24, MinWords=8, MaxFragments=1'"
_PG_TIMELINE = f"""
WITH q AS (SELECT to_tsquery('english', :q) AS q),
ranked AS (
  SELECT t.id, t.case_id, ts_rank({_PG_T_TEXT}, q.q) AS score,
         row_number() OVER (PARTITION BY t.case_id
                            ORDER BY ts_rank({_PG_T_TEXT}, q.q) DESC) AS rn
  FROM timeline t JOIN cases c ON c.id = t.case_id, q
  WHERE {_PG_T_TEXT} @@ q.q AND t.kind IN ({_KINDS_SQL})
    AND c.id != :exclude AND (NOT :closed OR c.is_closed)
    AND NOT EXISTS (SELECT 1 FROM timeline d WHERE d.case_id = t.case_id AND d.kind = 'message_deleted'
                    AND d.data ->> 'message_id' = t.data ->> 'message_id')
)
SELECT r.case_id, r.score, ts_headline('english', t.text, q.q, {_HEADLINE}), 1
FROM ranked r JOIN timeline t ON t.id = r.id, q WHERE r.rn = 1 ORDER BY r.score DESC LIMIT :n"""  # noqa: S608 (constants; values are bound)
_PG_CASES = f"""
WITH q AS (SELECT to_tsquery('english', :q) AS q)
SELECT c.id, ts_rank_cd({_PG_CASE}, q.q) * 2 AS score,
       ts_headline('english', c.subject || ' — ' || c.description, q.q, {_HEADLINE}), 0
FROM cases c, q WHERE {_PG_CASE} @@ q.q AND c.id != :exclude AND (NOT :closed OR c.is_closed)
ORDER BY score DESC LIMIT :n"""  # noqa: S608 (constants; values are bound)

