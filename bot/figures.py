"""Operational figures read from the timeline: how fast cases get a room, contact, replies and resolution.

Every duration is measured from the moment the CRM says the case was opened (its ``case.opened`` event's
``occurred_at``), so figures do not depend on how quickly webhooks arrived or workers ran. Per group (ISO week
of opening, priority) each figure is given as a median and a 90th percentile (nearest rank: the value that at
least 90 % of cases reach, never an interpolation between two cases).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, func, select
from sqlmodel import Session, col

from bot.db import Database
from bot.models import Case, CaseFile, ClosedCaseFigures, Participant, ParticipantStatus, Role, TimelineEvent, utcnow
from bot.timeline import Kind

# Participants who were actually in the room at some point (an open invitation or a refusal is not presence).
PRESENT_STATUSES = {ParticipantStatus.ADDED, ParticipantStatus.JOINED, ParticipantStatus.LEFT,
                    ParticipantStatus.REMOVED}  # fmt: skip
IN_ROOM_OUTCOMES = {"added", "already"}
_KINDS = [str(k) for k in (Kind.CASE, Kind.STATE, Kind.MESSAGE, Kind.JOIN, Kind.INVITE, Kind.HANDOFF)]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "s" for durations in seconds, "" for counts


METRICS = [
    Metric("room_ready", "Time to room ready", "s"),
    Metric("first_contact", "Time to first contact (customer and engineer in, one reply each)", "s"),
    Metric("first_engineer_reply", "Time to first engineer reply", "s"),
    Metric("resolution", "Time to resolution", "s"),
    Metric("participants", "Participants per case", ""),
    Metric("files", "Files per case", ""),
    Metric("handoffs", "Handoffs per case", ""),
]
METRIC_BY_KEY = {m.key: m for m in METRICS}


@dataclass(frozen=True)
class CaseFigures:
    case_id: int
    number: str
    priority: str
    opened_at: datetime
    values: dict[str, float | None]

    @property
    def week(self) -> str:
        year, week, _ = self.opened_at.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Stat:
    n: int
    median: float | None
    p90: float | None


@dataclass
class Group:
    key: str
    cases: int = 0
    stats: dict[str, Stat] = field(default_factory=dict)


def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[math.ceil(0.9 * len(ordered)) - 1])


@dataclass
class _People:
    engineers: set[str] = field(default_factory=set)
    customers: set[str] = field(default_factory=set)


class Entry(Protocol):
    """What figures read of a timeline entry (the table's row, or only these columns of it)."""

    kind: str
    at: datetime
    actor_email: str | None
    data: dict[str, Any]


def figures_of(case: Case, events: Iterable[Entry], participants: Iterable[Participant], files: int) -> CaseFigures:
    """One case's figures from its timeline (events in any order) and its participant rows."""
    assert case.id is not None
    evs = sorted(events, key=lambda e: e.at)
    parts = list(participants)
    people = _people(case, evs, parts)
    opened = _first(evs, lambda e: e.kind == Kind.CASE and e.data.get("type") == "case.opened")
    opened = opened or _first(evs, lambda e: e.kind == Kind.CASE) or case.created_at
    ready = _first(evs, lambda e: e.kind == Kind.STATE and e.data.get("to") == "open")
    closed = _first(evs, lambda e: e.kind == Kind.CASE and e.data.get("type") == "case.closed")
    closed = closed or (case.closed_at if case.is_closed else None)

    def said(group: set[str]) -> datetime | None:
        return _first(evs, lambda e: e.kind == Kind.MESSAGE and (e.actor_email or "").lower() in group)

    def present(group: set[str]) -> datetime | None:
        return _first(evs, lambda e: _shows_presence(e, group))

    marks = [present(people.customers), present(people.engineers), said(people.customers), said(people.engineers)]
    contact = max(marks) if all(m is not None for m in marks) else None  # type: ignore[type-var]

    def since_open(at: datetime | None) -> float | None:
        return max(0.0, (at - opened).total_seconds()) if at is not None else None

    values: dict[str, float | None] = {
        "room_ready": since_open(ready),
        "first_contact": since_open(contact),
        "first_engineer_reply": since_open(said(people.engineers)),
        "resolution": since_open(closed),
        "participants": float(sum(1 for p in parts if p.role != Role.BOT and p.status in PRESENT_STATUSES)),
        "files": float(files),
        "handoffs": float(sum(1 for e in evs if e.kind == Kind.HANDOFF)),
    }
    return CaseFigures(case.id, case.number, case.priority or "none", opened, values)


def _people(case: Case, evs: list[Entry], parts: list[Participant]) -> _People:
    people = _People()
    if case.engineer_email:
        people.engineers.add(case.engineer_email.lower())
    if case.customer_email:
        people.customers.add(case.customer_email.lower())
    for p in parts:
        if p.role == Role.ENGINEER:
            people.engineers.add(p.email.lower())
        elif p.role == Role.CUSTOMER:
            people.customers.add(p.email.lower())
    for e in evs:
        if e.kind == Kind.HANDOFF:
            people.engineers |= {str(e.data[k]).lower() for k in ("from", "to") if e.data.get(k)}
    return people


def _shows_presence(e: Entry, group: set[str]) -> bool:
    if e.kind in (Kind.JOIN, Kind.MESSAGE):
        return (e.actor_email or "").lower() in group
    if e.kind == Kind.INVITE:
        return str(e.data.get("email", "")).lower() in group and e.data.get("outcome") in IN_ROOM_OUTCOMES
    return False


def _first(evs: list[Entry], pred: Callable[[Entry], bool]) -> datetime | None:
    return next((e.at for e in evs if pred(e)), None)


def load(s: Session, since: datetime | None = None) -> list[CaseFigures]:
    """Figures of every case opened at or after ``since`` (all cases when None), oldest first.

    A closed case's figures were stored when its closure finished: one narrow row each, read by its opening
    time. Only the cases without one (still open, or closed before figures were stored and not yet backfilled)
    are computed from their timelines here, so the cost follows the open cases, not the window's history.
    """
    stored = select(col(Case.number), *_STORED_COLUMNS).join(Case, col(Case.id) == col(ClosedCaseFigures.case_id))
    if since is not None:
        stored = stored.where(col(ClosedCaseFigures.opened_at) >= since)
    rows = [_from_row(number, case_id, opened, priority, metrics)
            for number, case_id, opened, priority, *metrics in s.execute(stored).all()]  # fmt: skip
    rest = _without_figures()
    if since is not None:
        # A case row is written after its opening event happened, so this keeps every case opened since.
        rest = rest.where(col(Case.created_at) >= since)
    live = compute(s, list(s.execute(rest).scalars().all()))
    rows += [r for r in live if since is None or r.opened_at >= since]
    return sorted(rows, key=lambda r: (r.opened_at, r.case_id))


def compute(s: Session, found: list[Case]) -> list[CaseFigures]:
    """These cases' figures from their timelines, participants and files (a few statements for all of them)."""
    ids = [c.id for c in found]
    if not ids:
        return []
    by_case: dict[int, list[Entry]] = defaultdict(list)
    # Only the columns figures read: an open case's messages are most of what this page loads.
    wanted = [col(TimelineEvent.case_id), col(TimelineEvent.kind), col(TimelineEvent.at),
              col(TimelineEvent.actor_email), col(TimelineEvent.data)]  # fmt: skip
    ev_q = select(*wanted).where(col(TimelineEvent.case_id).in_(ids), col(TimelineEvent.kind).in_(_KINDS))
    for e in s.execute(ev_q).all():
        by_case[e.case_id].append(e)  # a Row has the attributes an Entry has
    parts: dict[int, list[Participant]] = defaultdict(list)
    for p in s.execute(select(Participant).where(col(Participant.case_id).in_(ids))).scalars():
        parts[p.case_id].append(p)
    file_q = select(col(CaseFile.case_id), func.count()).where(col(CaseFile.case_id).in_(ids))
    files = {int(cid): int(n) for cid, n in s.execute(file_q.group_by(col(CaseFile.case_id))).all()}
    return [figures_of(c, by_case[c.id], parts[c.id], files.get(c.id, 0)) for c in found if c.id is not None]


def store(s: Session, case: Case, at: datetime) -> CaseFigures:
    """Compute a closed case's figures and keep them, in the caller's transaction (closure's last one). They are
    final from then on: whatever reaches a closed case's timeline later does not change its figures."""
    (row,) = compute(s, [case])
    s.merge(_to_row(row, at))
    return row


def backfill(db: Database, *, batch: int = 200, say: Callable[[str], None] = lambda _line: None) -> int:
    """Store the figures of closed cases that have none (closed before figures were stored), a batch per
    transaction so an interrupted run keeps what it did and the next one goes on. Returns how many it stored."""
    closed = _without_figures().where(col(Case.is_closed).is_(True))
    with db.session() as s:
        total = s.execute(select(func.count()).select_from(closed.subquery())).scalar_one()
    done, after = 0, 0
    while done < total:
        with db.session() as s:
            q = closed.where(col(Case.id) > after).order_by(col(Case.id)).limit(batch)
            found = list(s.execute(q).scalars().all())
            if not found:
                break
            s.add_all(_to_row(r, utcnow()) for r in compute(s, found))
            s.commit()
            after = found[-1].id or after
        done += len(found)
        say(f"figures of closed cases: {done} of {total} stored")
    return done


def _without_figures() -> Select[Case]:
    """The cases that have no stored figures (their figures come from their timelines)."""
    stored = col(ClosedCaseFigures.case_id)
    return select(Case).outerjoin(ClosedCaseFigures, stored == col(Case.id)).where(stored.is_(None))


_STORED_COLUMNS = [col(ClosedCaseFigures.case_id), col(ClosedCaseFigures.opened_at), col(ClosedCaseFigures.priority),
                   *[getattr(ClosedCaseFigures, m.key) for m in METRICS]]  # fmt: skip


def _to_row(f: CaseFigures, at: datetime) -> ClosedCaseFigures:
    return ClosedCaseFigures.model_validate({"case_id": f.case_id, "opened_at": f.opened_at, "priority": f.priority,
                                            "computed_at": at, **f.values})  # fmt: skip


def _from_row(number: str, case_id: int, opened: datetime, priority: str, metrics: list[float | None]) -> CaseFigures:
    return CaseFigures(case_id, number, priority, opened, {m.key: v for m, v in zip(METRICS, metrics, strict=True)})


def summarize(rows: Iterable[CaseFigures], key: Callable[[CaseFigures], str]) -> list[Group]:
    """Median and p90 of each metric per group; a case without a value (e.g. still open) is left out of it."""
    groups: dict[str, list[CaseFigures]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    out = []
    for name in sorted(groups):
        members = groups[name]
        g = Group(name, len(members))
        for m in METRICS:
            vals = [v for r in members if (v := r.values.get(m.key)) is not None]
            g.stats[m.key] = Stat(len(vals), median(vals), p90(vals))
        out.append(g)
    return out


def by_week(rows: Iterable[CaseFigures]) -> list[Group]:
    return summarize(rows, lambda r: r.week)


def by_priority(rows: Iterable[CaseFigures]) -> list[Group]:
    return summarize(rows, lambda r: r.priority)


def overall(rows: Iterable[CaseFigures]) -> Group:
    found = summarize(rows, lambda _r: "all cases")
    return found[0] if found else Group("all cases", 0, {m.key: Stat(0, None, None) for m in METRICS})


def human(value: float | None, unit: str) -> str:
    """A duration in the largest two units that matter ("2 h 05 min"); counts with one decimal at most."""
    if value is None:
        return "n/a"
    if unit != "s":
        return f"{value:g}" if value == int(value) else f"{value:.1f}"
    secs = round(value)
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def as_dict(groups: list[Group]) -> list[dict[str, Any]]:
    """Plain data (for JSON and tests)."""
    out = []
    for g in groups:
        stats = {k: {"n": v.n, "median": v.median, "p90": v.p90} for k, v in g.stats.items()}
        out.append({"key": g.key, "cases": g.cases, **stats})
    return out


def chart_svg(groups: list[Group], metric: Metric) -> str:
    """Bars of the median and p90 of one metric per group, as inline SVG (no script, no external file).

    The same numbers are in the table next to it, which is the chart's text alternative for screen readers.
    """
    width, height, left, bottom, top = 640, 260, 56, 40, 28
    plot_w, plot_h = width - left - 12, height - top - bottom
    points = [(g.key, g.stats[metric.key]) for g in groups]
    peak = max([s.p90 or 0.0 for _, s in points] + [s.median or 0.0 for _, s in points] + [0.0])
    scale = plot_h / peak if peak else 0.0
    slot = plot_w / max(1, len(points))
    bar = max(4.0, min(28.0, slot / 3))
    title = f"{metric.label}: median and p90 per week"
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{_esc(title)}</title>',
        f'<desc id="chart-desc">{len(points)} groups; the table below lists every value.</desc>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 12}" y2="{top + plot_h}" stroke="#333"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11">{_esc(human(peak, metric.unit))}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
        f'<rect x="{left}" y="6" width="12" height="12" fill="#1f4e79"/>'
        f'<text x="{left + 16}" y="16" font-size="11">median</text>',
        f'<rect x="{left + 80}" y="6" width="12" height="12" fill="#7aa6d6"/>'
        f'<text x="{left + 96}" y="16" font-size="11">p90</text>',
    ]
    for i, (key, stat) in enumerate(points):
        x = left + i * slot + slot / 2
        bars = ((-bar, stat.median, "#1f4e79", "median"), (0.0, stat.p90, "#7aa6d6", "p90"))
        for offset, value, colour, name in bars:
            h = (value or 0.0) * scale
            label = f"{key} {name}: {human(value, metric.unit)}"
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}"'
                f' fill="{colour}"><title>{_esc(label)}</title></rect>'
            )
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11">{_esc(key)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
