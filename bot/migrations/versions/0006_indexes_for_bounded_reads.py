"""Indexes for reads that stay bounded as the history grows.

- Cases newest first (the dashboard's list of every room): read backwards from cases.created_at, stopping at the
  page's end, instead of sorting every case.
- The rooms not yet closed (the dashboard's default list): a partial index on rooms.case_id holding only them, a
  few however many closed rooms the years leave.
- The timeline's kind index goes: every read of kinds is of one case's entries, through (case_id, at, id), and
  the index cost every recorded entry a write.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NOT_CLOSED = "state != 'closed'"


def upgrade() -> None:
    op.create_index("ix_cases_created_at", "cases", ["created_at"])
    op.create_index("ix_rooms_not_closed", "rooms", ["case_id"], sqlite_where=sa.text(NOT_CLOSED),
                    postgresql_where=sa.text(NOT_CLOSED))  # fmt: skip
    op.drop_index("ix_timeline_kind", table_name="timeline")


def downgrade() -> None:
    op.create_index("ix_timeline_kind", "timeline", ["kind"])
    op.drop_index("ix_rooms_not_closed", table_name="rooms")
    op.drop_index("ix_cases_created_at", table_name="cases")
