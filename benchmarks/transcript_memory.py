"""Peak Python memory of a transcript export: a 10k- and a 100k-message room, side by side.

The streaming export (server-side cursor, entries written as they are read) should need about the same
memory for both rooms; loading the whole timeline first (what the export did before) grows with the room.
Measured with tracemalloc (Python allocations; the database's own page cache is not counted). Set
CASEROOM_TEST_POSTGRES_URL to include PostgreSQL.
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bot import schema, timeline, transcript
from bot.db import Database
from bot.models import Case, TimelineEvent
from tests.support import PG_ENV, fresh_postgres_database

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def fill(db: Database, n: int) -> int:
    """A case whose room holds ``n`` messages over several days, one in ten a reply in a thread."""
    with db.session() as s:
        case = Case(crm_id=f"bench-{n}", number=f"B{n}", subject="a very long room")
        s.add(case)
        s.commit()
        assert case.id is not None
        batch = []
        for i in range(n):
            root = i - i % 10
            batch.append({
                "case_id": case.id, "at": START + timedelta(seconds=30 * i), "kind": "message",
                "actor_email": f"person{i % 7}@example.com", "actor_name": f"Person {i % 7}",
                "text": f"Message {i}: the tunnel dropped again after the rekey, see the attached log. " * 2,
                "data": {"message_id": f"m{i}", "parent_id": f"m{root}" if i != root else None},
                "source_key": f"msg:m{i}",
            })  # fmt: skip
            if len(batch) == 10_000:
                s.execute(insert(TimelineEvent), batch)
                batch = []
        if batch:
            s.execute(insert(TimelineEvent), batch)
        s.commit()
        return case.id


def measure(action: Callable[[], None]) -> tuple[float, float]:
    """Peak traced memory in MiB and seconds taken by ``action``."""
    tracemalloc.start()
    t0 = time.perf_counter()
    action()
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20, elapsed


def streaming(db: Database, case_id: int, out: Path) -> Callable[[], None]:
    def run() -> None:
        with out.open("w", encoding="utf-8") as f:
            transcript.write(transcript.build(db, case_id), "html", f)

    return run


def eager(db: Database, case_id: int) -> Callable[[], None]:
    def run() -> None:
        with db.session() as s:
            events = timeline.events(s, case_id)  # the whole room as objects, as the export once did
            assert events

    return run


Row = tuple[str, str, str, str, str]


def _row(name: str, small: tuple[float, float], large: tuple[float, float], note: str = "") -> Row:
    return name, f"{small[0]:.1f}", f"{large[0]:.1f}", f"{large[0] / small[0]:.2f}x", f"{large[1]:.1f}s{note}"


def _rows(label: str, db: Database, sizes: tuple[int, int], tmp: Path, *, with_eager: bool) -> list[Row]:
    ids = {n: fill(db, n) for n in sizes}
    streaming(db, ids[sizes[0]], tmp / "warm-up.html")()  # compiled statements and caches are not the room's
    rows: list[Row] = []
    stream = {n: measure(streaming(db, ids[n], tmp / f"{label}-{n}.html")) for n in sizes}
    small, large = sizes
    mb = (tmp / f"{label}-{large}.html").stat().st_size / 2**20
    rows.append(_row(f"{label} streaming export", stream[small], stream[large], f" ({mb:.0f} MiB out)"))
    if with_eager:
        load = {n: measure(eager(db, ids[n])) for n in sizes}
        rows.append(_row(f"{label} load-all (before)", load[small], load[large]))
    return rows


def run(quick: bool = False) -> None:
    sizes = (2_000, 20_000) if quick else (10_000, 100_000)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'transcripts.db'}")
        schema.upgrade(db)
        rows += _rows("sqlite", db, sizes, Path(tmp), with_eager=True)
        db.dispose()
        if os.environ.get(PG_ENV):
            with fresh_postgres_database() as url:
                pg = Database(url)
                schema.upgrade(pg)
                rows += _rows("postgresql", pg, sizes, Path(tmp), with_eager=False)
                pg.dispose()
    small, large = sizes
    print(f"\ntranscript export, peak Python memory (tracemalloc), {small:,} vs {large:,} messages")
    print(f"{'variant':<32}{f'{small:,} MiB':>12}{f'{large:,} MiB':>13}{'ratio':>9}   time for the large room")
    for name, a, b, ratio, took in rows:
        print(f"{name:<32}{a:>12}{b:>13}{ratio:>9}   {took}")
    if not os.environ.get(PG_ENV):
        print(f"(set {PG_ENV} to measure PostgreSQL's server-side cursor in the same run)")
