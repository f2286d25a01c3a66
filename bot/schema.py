"""The database schema's version: Alembic migrations, applied under a lock, and the check made at start.

``caseroom db upgrade`` applies the migrations in ``bot/migrations/versions``. ``serve`` and ``worker`` build an
empty database themselves (a fresh install) but refuse one whose schema is older or newer than their code: a
replica of the new release must not write rows the old schema cannot hold, nor the old one rows of a schema it
does not know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from bot import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from bot.db import Database, DatabaseUnreachable, advisory_key, existing, unreachable

BASELINE = "0001"  # the schema of the last release without migrations (commit 86abc16)
LOCK = "caseroom:schema"
# Search structures are not SQLModel tables: FTS5 tables (and their shadow tables), GIN expression indexes.
# Migrations make them; comparing them against the models would only ever report them as strangers.
_SEARCH_TABLES = ("timeline_fts", "case_fts")
_SEARCH_INDEXES = frozenset({"ix_timeline_search", "ix_cases_search"})


class SchemaError(RuntimeError):
    """The database's schema does not match this code; the message says what to run."""


@dataclass(frozen=True)
class Status:
    current: str | None  # None: never migrated (an empty database, or one made before migrations)
    head: str
    has_tables: bool

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.up_to_date:
            return f"the database schema is current (revision {self.head})"
        if self.current is None and not self.has_tables:
            return f"the database is empty; `caseroom db upgrade` creates its schema (revision {self.head})"
        if self.current is None:
            return (f"the database predates schema migrations; run `caseroom db upgrade` to bring it to revision "
                    f"{self.head}")  # fmt: skip
        if self.current not in _revisions():
            return (f"the database schema (revision {self.current}) is newer than this CaseRoom knows "
                    f"(revision {self.head}): run the CaseRoom release that migrated it")  # fmt: skip
        return (f"the database schema is at revision {self.current}, this CaseRoom needs {self.head}: "
                "run `caseroom db upgrade`")  # fmt: skip


def include_name(name: str | None, type_: str, _parents: Any) -> bool:
    """What the models describe (Alembic's autogenerate filter): everything but the search structures."""
    if type_ == "table":
        return not (name or "").startswith(_SEARCH_TABLES)
    if type_ == "index":
        return name not in _SEARCH_INDEXES
    return True


# How the schema is compared with the models: by ``caseroom db revision`` (env.py) and by :func:`differences`.
COMPARE: dict[str, Any] = {"include_name": include_name, "compare_type": True}


def differences(db: Database, metadata: MetaData | None = None) -> list[Any]:
    """How the database's schema differs from the models (Alembic's autogenerate diff); ``[]`` when they agree."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=COMPARE)
        return compare_metadata(context, metadata if metadata is not None else SQLModel.metadata)


def new_revision(message: str, scratch: Database) -> str:
    """Write the next migration from what the models add to the newest revision (autogenerate, to be read and
    edited: it knows no data steps, no triggers, and on SQLite renders PostgreSQL-only options it cannot see).
    ``scratch`` is an empty database it brings to the head first. Returns the new file's path."""
    upgrade(scratch)
    number = f"{int(head()) + 1:04d}"
    with scratch.engine.begin() as conn:
        written = command.revision(_config(conn), message=message, autogenerate=True, rev_id=number)
    assert written is not None and not isinstance(written, list)
    return str(written.path)


def head() -> str:
    found = _script().get_current_head()
    assert found is not None
    return found


def status(db: Database | Engine) -> Status:
    """The schema's revision; the first thing every command reads, so an unreachable database is said here once."""
    engine = db.engine if isinstance(db, Database) else db
    try:
        with engine.connect() as conn:
            return _status(conn)
    except OperationalError as exc:
        raise DatabaseUnreachable(unreachable(engine.url, exc)) from exc


def upgrade(db: Database, *, say: Callable[[str], None] = lambda _line: None) -> Status:
    """Bring the schema to the newest revision: all steps in one transaction, every other replica waiting."""
    def run(conn: Connection, before: Status) -> None:
        cfg = _config(conn)
        current = before.current
        if current is None and before.has_tables:
            # Made by the release before migrations: its tables are the baseline, as they are.
            say(f"adopting a database made before migrations as revision {BASELINE}")
            command.stamp(cfg, BASELINE)
            current = BASELINE
        for step in reversed(list(_script().iterate_revisions("head", current))):
            say(f"applying {step.revision}: {step.doc}")
        command.upgrade(cfg, "head")

    return _locked(db, run)


def opened_current(url: str) -> Database:
    """The database of a command that reads it or mends its rows (`jobs`, `transcript`): never created here (a
    missing SQLite file is an error naming it) and refused, saying what to run, unless its schema is current."""
    db = existing(url)
    try:
        found = status(db)
    except DatabaseUnreachable:
        db.dispose()
        raise
    if not found.up_to_date:
        db.dispose()
        raise SchemaError(found.describe())
    return db


def prepare(db: Database) -> None:
    """What a starting process does: nothing on a current schema, build an empty one, refuse any other."""
    if status(db).up_to_date:
        return

    def run(conn: Connection, before: Status) -> None:
        if before.current is None and not before.has_tables:
            command.upgrade(_config(conn), "head")
        elif not before.up_to_date:
            raise SchemaError(before.describe())

    _locked(db, run)


# -- internals ---------------------------------------------------------------------------------------------
@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config(None))


@cache
def _revisions() -> frozenset[str]:
    return frozenset(s.revision for s in _script().walk_revisions())


def _config(conn: Connection | None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "bot:migrations")
    cfg.attributes["connection"] = conn
    return cfg


def _status(conn: Connection) -> Status:
    current = MigrationContext.configure(conn).get_current_revision()
    tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
    return Status(current, head(), bool(tables))


def _locked(db: Database, run: Callable[[Connection, Status], None]) -> Status:
    """Run ``run`` holding the schema lock (PostgreSQL: an advisory lock; SQLite: the write lock), then commit."""
    with db.engine.begin() as conn:
        if db.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(LOCK)})
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        run(conn, _status(conn))  # read again under the lock: another replica may have just migrated
        return _status(conn)
