"""Engine and sessions. SQLite (WAL) by default; PostgreSQL when several replicas share the work.

The schema is made and upgraded by migrations (:mod:`bot.schema`), never here.
"""

from __future__ import annotations

import sqlite3
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine


def normalise_url(url: str) -> str:
    """Accept the usual ``postgresql://`` / ``postgres://`` spellings and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class DatabaseUnreachable(RuntimeError):
    """The database cannot be reached or opened; the message names it (password hidden) and the driver's reason."""


def sqlite_file(url: str | URL) -> Path | None:
    """The absolute path of a SQLite database's file; None for PostgreSQL or SQLite in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database or "").expanduser().resolve()


def absolute_sqlite(url: str) -> str:
    """The URL with a relative SQLite path resolved against the current directory, once, when the settings are
    read: whatever directory the process works in later, and whatever it shows, it is the same file."""
    path = sqlite_file(url)
    if path is None:
        return url
    return make_url(url).set(database=str(path)).render_as_string(hide_password=False)


def existing(url: str) -> Database:
    """A database that is already there, for a command that only reads it or mends its rows: a SQLite file that
    does not exist is an error naming it, never an empty database made somewhere unexpected."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise DatabaseUnreachable(f"no database at {path}: nothing has been stored there (CASEROOM_DATABASE_URL "
                                  "names it; `caseroom serve` or `caseroom db upgrade` creates it)")  # fmt: skip
    return Database(url)


def display_url(url: str | URL) -> str:
    """The URL as an operator should see it: the password hidden, a SQLite path made absolute."""
    path = sqlite_file(url)
    if path is not None:
        return f"sqlite:///{path}"
    parsed = make_url(url)
    # As operators write it (postgresql://), not with the driver this code picked.
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=True)


def unreachable(url: str | URL, exc: Exception) -> str:
    """One line saying which database could not be reached and the driver's own reason."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"cannot reach the database {display_url(url)}: {reason[0] if reason else type(exc).__name__}"


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            # Pooled: opening a connection runs the pragmas, and closing the last one checkpoints the WAL, which
            # cost more than the insert itself on the webhook ack path (benchmarks/ingest.py). WAL lets readers
            # (HTTP acks) proceed while a worker writes.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if make_url(self.url).database in (None, "", ":memory:"):
                kwargs["poolclass"] = NullPool
            else:
                kwargs["pool_size"] = 8
                kwargs["max_overflow"] = 16
        else:
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 20
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A short unit of work. Never hold one open across a platform call."""
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    def try_leader_lock(self, name: str) -> Any | None:
        """Take the advisory lock ``name`` on a dedicated connection; ``None`` if another holds it.

        The caller keeps the returned connection open for as long as it leads. On SQLite one process
        owns the database, so the lock is always granted.
        """
        conn = self.engine.connect()
        if not self.is_postgres:
            return conn
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(name)}).scalar()
        conn.commit()
        if got:
            return conn
        conn.close()
        return None

    def release_leader_lock(self, conn: Any) -> None:
        """Give up leadership. Closing alone would return the connection, lock and all, to the pool."""
        try:
            if self.is_postgres:
                conn.execute(text("SELECT pg_advisory_unlock_all()"))
                conn.commit()
            conn.close()
        except Exception:  # noqa: BLE001 — a broken connection: drop it, which ends its session and lock
            conn.invalidate()

    def dispose(self) -> None:
        self.engine.dispose()


def advisory_key(name: str) -> int:
    # A stable signed 64-bit key: zlib.crc32 is stable across processes, unlike hash().
    return zlib.crc32(name.encode()) - 2**31


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    _wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _wal(cur: Any) -> None:
    """Put the file in WAL mode (a property of the file: the first connection's switch holds for all).

    SQLite does not wait out a switch another connection is making at the same moment: it answers "locked" at
    once, whatever the busy timeout. Processes starting together on a new file meet exactly that, so try again.
    """
    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")  # answers the mode it is in: "memory" for :memory:, and stays so
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
