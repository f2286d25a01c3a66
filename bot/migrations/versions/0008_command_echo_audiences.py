"""Every command echo on the timeline carries its audience.

Echoes recorded before the audience was stored with them were judged, at every read, by the command's current
registration: the only reason a timeline read needed the command registry. Each such echo gets the audience its
command had when this revision was written (a command unknown then, or since removed, was echoed to everyone in
the room, as the read judged it), so a read now judges an echo by its own data alone.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Who could run each command at this revision, which is who may read its echo.
AUDIENCES = {
    "files": "members", "handoff": "engineer", "help": "members", "invite": "participants", "note": "engineer",
    "remove": "engineer", "search": "engineer", "status": "members", "summary": "members", "timeline": "members",
}  # fmt: skip
UNKNOWN = "members"
BATCH = 1000
timeline = sa.table("timeline", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                    sa.column("data", sa.JSON))  # fmt: skip


def upgrade() -> None:
    conn = op.get_bind()
    after = 0
    while True:
        rows = conn.execute(
            sa.select(timeline.c.id, timeline.c.data)
            .where(timeline.c.kind == "command", timeline.c.id > after)
            .order_by(timeline.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        for row in rows:
            data: dict[str, Any] = dict(row.data or {})
            if data.get("audience"):
                continue
            data["audience"] = AUDIENCES.get(str(data.get("command") or ""), UNKNOWN)
            conn.execute(sa.update(timeline).where(timeline.c.id == row.id).values(data=data))


def downgrade() -> None:
    pass  # the audience stays: earlier code reads a stored audience first
