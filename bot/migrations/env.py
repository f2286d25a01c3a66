"""Alembic environment: always run by :mod:`bot.schema` on a connection it holds (and has locked)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from bot import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from bot.schema import COMPARE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    **COMPARE,
    render_as_batch=True,  # SQLite alters a table by copying it; batch mode writes those steps
)
with context.begin_transaction():
    context.run_migrations()
