"""Lanes order the job claim.

The claim used to read the 16 oldest due jobs and idle when all of them belonged to a lane another worker held.
Now it picks a lane by when its first live job is due (``lane_leases.head_at``) and runs that lane's first job, so
every job needs a lane and every lane with live jobs needs its ``head_at``. Jobs queued by an earlier version
without a lane get one of their own, as the queue now gives them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LIVE = "status IN ('queued', 'running')"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.create_index("ix_jobs_lane_live", ["lane", "run_at", "id"], sqlite_where=sa.text(LIVE),
                           postgresql_where=sa.text(LIVE))  # fmt: skip
    with op.batch_alter_table("lane_leases") as batch:
        batch.add_column(sa.Column("head_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_lane_leases_head_at", ["head_at"], sqlite_where=sa.text("head_at IS NOT NULL"),
                           postgresql_where=sa.text("head_at IS NOT NULL"))  # fmt: skip
    op.execute(f"UPDATE jobs SET lane = 'job:' || id WHERE lane IS NULL AND {LIVE}")
    op.execute(
        f"UPDATE lane_leases SET head_at = (SELECT min(run_at) FROM jobs WHERE jobs.lane = lane_leases.lane AND {LIVE})"
    )
    # A lane without a row gets one with no holder, its lease ending at its first job's time: when the claim would
    # look at the lane anyway.
    op.execute(
        "INSERT INTO lane_leases (lane, holder, until, head_at) SELECT lane, '', min(run_at), min(run_at) FROM jobs "
        f"WHERE {LIVE} AND lane NOT IN (SELECT lane FROM lane_leases) GROUP BY lane"
    )


def downgrade() -> None:
    with op.batch_alter_table("lane_leases") as batch:
        batch.drop_index("ix_lane_leases_head_at")
        batch.drop_column("head_at")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_lane_live")
