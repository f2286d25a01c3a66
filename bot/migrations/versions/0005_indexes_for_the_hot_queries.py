"""Indexes for the hot queries.

- A case's timeline in order, or its last N read backwards: (case_id, at, id), which also serves every look-up by
  case alone, so the case_id index goes.
- The hourly purge's ranges: finished jobs by (status, finished_at), which also serves the dashboard's jobs of one
  status, so the status index goes; deliveries by received_at; idle lanes by the end of their lease (only lanes
  with no live job).
- A platform room belongs to one case: unique (platform, room_id), which also serves the room's look-up, so the
  room_id index goes.
- Job indexes no query uses since the claim orders lanes (0004): kind, lane, run_at. Each cost every enqueue, claim
  and completion a write.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.schema import SchemaError

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

IDLE = "head_at IS NULL"


def upgrade() -> None:
    shared = op.get_bind().execute(sa.text(
        "SELECT platform, room_id, count(*) FROM rooms WHERE room_id IS NOT NULL GROUP BY platform, room_id "
        "HAVING count(*) > 1 ORDER BY platform, room_id LIMIT 5"
    )).all()  # fmt: skip
    if shared:
        rooms = ", ".join(f"{platform} {room_id} ({n} cases)" for platform, room_id, n in shared)
        raise SchemaError(
            f"cannot upgrade to revision {revision}: several cases share one platform room: {rooms}. A room "
            "belongs to one case: set room_id to NULL on the rooms rows of the other cases, then run "
            "`caseroom db upgrade` again"
        )
    op.create_index("ix_timeline_case_at", "timeline", ["case_id", "at", "id"])
    op.drop_index("ix_timeline_case_id", table_name="timeline")
    op.create_index("ix_deliveries_received_at", "deliveries", ["received_at"])
    op.create_index("ix_jobs_status_finished_at", "jobs", ["status", "finished_at"])
    op.create_index("ix_lane_leases_idle", "lane_leases", ["until"], sqlite_where=sa.text(IDLE),
                    postgresql_where=sa.text(IDLE))  # fmt: skip
    op.create_index("uq_rooms_platform_room_id", "rooms", ["platform", "room_id"], unique=True)
    op.drop_index("ix_rooms_room_id", table_name="rooms")
    for column in ("kind", "lane", "run_at", "status"):
        op.drop_index(f"ix_jobs_{column}", table_name="jobs")


def downgrade() -> None:
    for column in ("kind", "lane", "run_at", "status"):
        op.create_index(f"ix_jobs_{column}", "jobs", [column])
    op.create_index("ix_rooms_room_id", "rooms", ["room_id"])
    op.drop_index("uq_rooms_platform_room_id", table_name="rooms")
    op.drop_index("ix_lane_leases_idle", table_name="lane_leases")
    op.drop_index("ix_jobs_status_finished_at", table_name="jobs")
    op.drop_index("ix_deliveries_received_at", table_name="deliveries")
    op.create_index("ix_timeline_case_id", "timeline", ["case_id"])
    op.drop_index("ix_timeline_case_at", table_name="timeline")
