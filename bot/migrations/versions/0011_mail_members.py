"""People in a case room by e-mail.

A person without the room's chat platform (or whose company keeps them out of other organisations' rooms) is in it
by e-mail: ``mail_members`` keeps their reply-address token and where they stand, and their participant row says
``via`` "email". Rows from before this revision are platform members ('').

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER on both databases, as in 0009: a batch copy of "participants" on SQLite is not needed.
    op.add_column("participants", sa.Column("via", sa.String(length=16), nullable=False, server_default=""))
    op.create_table(
        "mail_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.String(length=255), nullable=False),
        sa.Column("invited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "email", name="uq_mail_member"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_mail_members_case_id", "mail_members", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_mail_members_case_id", table_name="mail_members")
    op.drop_table("mail_members")
    op.drop_column("participants", "via")
