"""Which timeline entries have gone to which person in a room by e-mail.

``mail_digest_lines`` holds one row per (e-mail member, timeline entry) claimed for their mail, so each entry is
mailed to each person once, whichever sweep or replica claims it first.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_digest_lines",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["mail_members.id"]),
        sa.ForeignKeyConstraint(["event_id"], ["timeline.id"]),
        sa.PrimaryKeyConstraint("member_id", "event_id"),
    )


def downgrade() -> None:
    op.drop_table("mail_digest_lines")
