"""Each closed case's figures, stored once when its closure finishes.

The figures page reads one narrow row per case in its window from here instead of every case's timeline. A
database upgraded from an earlier revision has closed cases without a row: ``caseroom db upgrade`` computes them
after the migrations (with the code's own rules, which a migration should not import), and until then the page
computes those cases from their timelines as it does the open ones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

METRICS = ("room_ready", "first_contact", "first_engineer_reply", "resolution", "participants", "files", "handoffs")


def upgrade() -> None:
    op.create_table(
        "case_figures",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("priority", sa.String(), nullable=False),
        *[sa.Column(name, sa.Float(), nullable=True) for name in METRICS],
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_case_figures_opened_at", "case_figures", ["opened_at"])


def downgrade() -> None:
    op.drop_index("ix_case_figures_opened_at", table_name="case_figures")
    op.drop_table("case_figures")
