"""Handoffs kept only as a room step get their timeline entry.

Those were recorded before handoffs had timeline entries. Until now ``ensure_handoff`` carried a shim: a handoff key
found among the room's steps but not on the timeline was "done before". Here each such key becomes the ``handoff``
entry the current code looks for, marked finished (its CRM comment filed, the previous engineer dealt with) because
the version that ran it did whatever it did then, and the shim goes. Who handed over to whom was never stored, so
the entry says so.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TEXT = "Handed over (recorded before CaseRoom kept the details of a handoff)"
timeline = sa.table(
    "timeline",
    sa.column("id", sa.Integer),
    sa.column("case_id", sa.Integer),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("kind", sa.String),
    sa.column("text", sa.Text),
    sa.column("data", sa.JSON),
    sa.column("source_key", sa.String),
)
crm_writes = sa.table(
    "crm_writes",
    sa.column("case_id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("ref", sa.String),
    sa.column("done_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    for case_id, steps in conn.execute(sa.text("SELECT case_id, steps FROM rooms")).all():
        done: dict[str, Any] = json.loads(steps) if isinstance(steps, str) else dict(steps or {})
        for key, when in done.items():
            if not key.startswith("handoff:"):
                continue
            known = sa.select(timeline.c.id).where(timeline.c.case_id == case_id, timeline.c.source_key == key)
            if conn.execute(known).first() is not None:
                continue
            at = datetime.fromisoformat(when).astimezone(UTC)
            at = at.replace(tzinfo=None) if sqlite else at  # the models keep naive UTC on SQLite
            data = {"legacy": True, "previous_removed": True}
            conn.execute(timeline.insert().values(case_id=case_id, at=at, kind="handoff", text=TEXT, data=data,
                                                  source_key=key))  # fmt: skip
            event_id = conn.execute(known).scalar_one()
            # Its comment was the old version's business: the current one must not file it again.
            conn.execute(crm_writes.insert().values(case_id=case_id, key=f"handoff:{event_id}#1", ref="", done_at=at))


def downgrade() -> None:
    conn = op.get_bind()
    legacy = sa.select(timeline.c.id).where(timeline.c.kind == "handoff", timeline.c.text == TEXT)
    for (event_id,) in conn.execute(legacy).all():
        conn.execute(crm_writes.delete().where(crm_writes.c.key == f"handoff:{event_id}#1"))
        conn.execute(timeline.delete().where(timeline.c.id == event_id))
