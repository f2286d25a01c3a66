"""Files CaseRoom keeps for a CRM that takes no uploads.

The generic webhook's callbacks carry a case's files and transcript as short-lived signed links to CaseRoom itself
(and inline when small): CaseRoom keeps the bytes, once per case, name and content, until their keeping time ends.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("mime", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "name", "sha256", name="uq_stored_file"),
    )
    op.create_index("ix_stored_files_case_id", "stored_files", ["case_id"])
    op.create_index("ix_stored_files_stored_at", "stored_files", ["stored_at"])


def downgrade() -> None:
    op.drop_index("ix_stored_files_stored_at", table_name="stored_files")
    op.drop_index("ix_stored_files_case_id", table_name="stored_files")
    op.drop_table("stored_files")
