from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import schema
from bot.db import Database
from tests.support import PG_ENV, fresh_postgres_database

# The soak forms of the reliability tests (1,000 cases, minutes each) run only when asked for.
SOAK_WANTED = os.environ.get("CASEROOM_RELIABILITY") == "long"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SOAK_WANTED or config.getoption("markexpr"):  # an explicit -m decides for itself
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test that takes ``db_url`` runs on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'caseroom.db'}"
        return
    if not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests need a real server (.ci/run sets it)")
    with fresh_postgres_database() as url:
        yield url


def _with_schema(url: str) -> Iterator[Database]:
    database = Database(url)
    schema.prepare(database)
    yield database
    database.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """The database at ``db_url`` with the current schema."""
    yield from _with_schema(db_url)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "platform.json"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server, for behaviour only PostgreSQL has."""
    if not os.environ.get(PG_ENV):
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests need a real server (.ci/run sets it)")
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """A fresh PostgreSQL database with the current schema, for behaviour only PostgreSQL has."""
    yield from _with_schema(pg_url)
