"""Small dialect-aware helpers shared by the queue and the ingest path."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel


def insert_ignore(session: Session, model: type[SQLModel], values: dict[str, Any]) -> Any | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the id when inserted, ``None`` for a duplicate.

    Concurrent duplicates are settled by the database's unique keys, not by a read-then-write race.
    """
    table = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    pk = next(iter(table.primary_key.columns))
    stmt = insert(table).values(**values).on_conflict_do_nothing().returning(pk)
    return session.execute(stmt).scalar_one_or_none()
