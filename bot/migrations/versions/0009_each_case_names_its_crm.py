"""Each case names the CRM it came from.

Until now a process wrote everything back to the first CRM it had configured, whatever webhook the case came
through. Cases recorded before this revision get '' ("not known"): nobody can tell from the rows which webhook
brought them. Such a case is written back to the only CRM configured, as before, and its next event records its
CRM.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER on both databases: a batch copy of "cases" on SQLite would drop a table others refer to.
    op.add_column("cases", sa.Column("crm", sa.String(length=32), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("cases", "crm")
