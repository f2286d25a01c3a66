"""Database tables. Unique keys here are what make every step idempotent across replicas."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Dialect, Index, LargeBinary, Text, TypeDecorator, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which keeps no zone) as on PostgreSQL.

    A timeline without a zone is one of the complaints we design against.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: CaseRoom stores only timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(**kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kw))


class RoomState(enum.StrEnum):
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"


# Written out, not bound: a planner proves a partial index usable only from the literal (see ix_rooms_not_closed).
ROOM_NOT_CLOSED = f"state != '{RoomState.CLOSED}'"


class Role(enum.StrEnum):
    ENGINEER = "engineer"
    CUSTOMER = "customer"
    MEMBER = "member"  # anyone else someone brought in
    BOT = "bot"


class ParticipantStatus(enum.StrEnum):
    """Where a case's participant stands with its room; the dashboard, figures and commands read it."""

    PENDING = "pending"  # known from the CRM or a command, not yet asked for on the platform
    ADDED = "added"  # the platform made them a member
    INVITED = "invited"  # asked in, not yet in (a Slack Connect invitation, a guest's e-mail)
    JOINED = "joined"  # the platform told us they came in (a join event), whoever added them
    REFUSED = "refused"  # the platform would not have them; ``status_reason`` says why
    LEFT = "left"  # went out of their own accord
    REMOVED = "removed"  # taken out: by a command, a handoff, or closure


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    id: int | None = Field(default=None, primary_key=True)
    crm_id: str = Field(index=True, unique=True, max_length=64)
    number: str = Field(index=True, unique=True, max_length=64)
    # The CRM the case came from (``Services.crm_named``), where everything about it is written back. The CRM id
    # alone is CaseRoom's key for a case, so a CRM whose ids are not unique among CRMs prefixes them. '': recorded
    # before CaseRoom kept this (revision 0009).
    crm: str = Field(default="", max_length=32)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = ""
    priority: str = ""
    platform: str = ""
    is_closed: bool = False
    link: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    engineer_email: str | None = None
    engineer_name: str | None = None
    engineer_timezone: str | None = None
    last_event_at: datetime | None = _ts(nullable=True)  # newest occurred_at applied: older events lose
    created_at: datetime = _ts(nullable=False, default=utcnow, index=True)  # the dashboard's newest first
    closed_at: datetime | None = _ts(nullable=True)


class Room(SQLModel, table=True):
    __tablename__ = "rooms"
    # One case per platform room: the room's events find their case by this key. NULL room ids (a room still
    # opening) do not collide, on either database.
    __table_args__ = (
        Index("uq_rooms_platform_room_id", "platform", "room_id", unique=True),
        # The rooms not yet closed, which the dashboard lists: a few, however many closed ones the years leave.
        Index("ix_rooms_not_closed", "case_id", sqlite_where=text(ROOM_NOT_CLOSED),
              postgresql_where=text(ROOM_NOT_CLOSED)),
    )  # fmt: skip
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", unique=True)
    platform: str
    room_id: str | None = None
    url: str | None = None
    name: str = ""
    state: str = RoomState.OPENING
    state_changed_at: datetime = _ts(nullable=False, default=utcnow)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    steps: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))


class Participant(SQLModel, table=True):
    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("case_id", "email", name="uq_participant_case_email"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    email: str
    name: str = ""
    role: str = Role.MEMBER
    platform_user_id: str | None = None
    status: str = ParticipantStatus.PENDING
    status_reason: str = ""
    timezone: str | None = None
    updated_at: datetime = _ts(nullable=False, default=utcnow)
    via: str = Field(default="", max_length=16)  # "email": in the room by e-mail (a MailMember), not on the platform


class TimelineEvent(SQLModel, table=True):
    """One line of a case's memory. ``source_key`` deduplicates events seen twice (retries, export)."""

    __tablename__ = "timeline"
    __table_args__ = (
        UniqueConstraint("case_id", "source_key", name="uq_timeline_source"),
        # A case's lines in order, or its last N read backwards: every timeline read but the digest's.
        Index("ix_timeline_case_at", "case_id", "at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    at: datetime = _ts(nullable=False, default=utcnow, index=True)
    kind: str  # no index of its own: every read of kinds is of one case's, through (case, time, id)
    actor_email: str | None = None
    actor_name: str | None = None
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    source_key: str | None = None


class CaseFile(SQLModel, table=True):
    __tablename__ = "case_files"
    __table_args__ = (UniqueConstraint("case_id", "platform_file_id", name="uq_case_file"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    platform_file_id: str
    name: str
    size: int | None = None
    mime: str | None = None
    uploaded_by: str | None = None
    uploaded_at: datetime = _ts(nullable=False, default=utcnow)
    crm_ref: str | None = None  # id of the copy filed on the CRM case


class ClosedCaseFigures(SQLModel, table=True):
    """A closed case's operational figures, computed once when its closure finished (see ``bot.figures``).

    The figures page reads these, one narrow row per case in its window, instead of every case's timeline; only
    the cases still open are computed from their timelines when the page is shown. Durations are in seconds.
    """

    __tablename__ = "case_figures"
    case_id: int = Field(foreign_key="cases.id", primary_key=True)
    opened_at: datetime = _ts(nullable=False, index=True)  # the window's range
    priority: str
    room_ready: float | None = None
    first_contact: float | None = None
    first_engineer_reply: float | None = None
    resolution: float | None = None
    participants: float | None = None
    files: float | None = None
    handoffs: float | None = None
    computed_at: datetime = _ts(nullable=False, default=utcnow)


class BotPost(SQLModel, table=True):
    """A message the bot posted in a case room, by its platform id: closure's export has it on the timeline already,
    as its own entry (``msg:<id>``, the bot's own words) or as the fact it announced (a join, an upload, a handoff).
    """

    __tablename__ = "bot_posts"
    __table_args__ = (UniqueConstraint("case_id", "message_id", name="uq_bot_post"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    message_id: str = Field(max_length=255)


class CrmWrite(SQLModel, table=True):
    """One thing filed on the CRM case (a transcript, a comment or one part of it), by its key: done once."""

    __tablename__ = "crm_writes"
    __table_args__ = (UniqueConstraint("case_id", "key", name="uq_crm_write"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    key: str = Field(max_length=255)
    ref: str = ""  # the CRM's id of what was created, when it gives one
    done_at: datetime = _ts(nullable=False, default=utcnow)


class Delivery(SQLModel, table=True):
    """Every inbound webhook, stored before it is acknowledged. The unique key drops duplicates."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("source", "delivery_id", name="uq_delivery"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    delivery_id: str = Field(max_length=255)
    received_at: datetime = _ts(nullable=False, default=utcnow, index=True)  # the purge's range
    payload: str = Field(sa_column=Column(Text, nullable=False))


class Cursor(SQLModel, table=True):
    """How far a periodic sweep has got (e.g. the CRM reconciliation's LastModifiedDate watermark)."""

    __tablename__ = "cursors"
    name: str = Field(primary_key=True, max_length=64)
    value: str = ""
    updated_at: datetime = _ts(nullable=False, default=utcnow)


class DigestedEvent(SQLModel, table=True):
    """A timeline line already handed to its case's CRM (one CRM's activity digest, the generic webhook's
    callbacks: a case has one CRM), claimed by its own id.

    Not a watermark on ids: ids are handed out at insert, not at commit, so on PostgreSQL a lower id can commit
    after a higher one was digested, and would fall behind a watermark for good.
    """

    __tablename__ = "digested_events"
    event_id: int = Field(primary_key=True, foreign_key="timeline.id")
    posted_at: datetime = _ts(nullable=False, default=utcnow)


class StoredFile(SQLModel, table=True):
    """A file CaseRoom keeps for a CRM that takes no uploads (the generic webhook's callbacks link to it), once per
    case, name and content; purged some days after its case closes."""

    __tablename__ = "stored_files"
    __table_args__ = (UniqueConstraint("case_id", "name", "sha256", name="uq_stored_file"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    name: str = Field(max_length=255)
    mime: str = Field(max_length=255)
    size: int
    sha256: str = Field(max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    stored_at: datetime = _ts(nullable=False, default=utcnow, index=True)  # the purge's range


class MailState(enum.StrEnum):
    ACTIVE = "active"  # gets the room's mail; their replies are posted in the room
    LEFT = "left"  # asked to stop (the leave link or a "leave" reply)
    BOUNCED = "bounced"  # their mail server refused them for good
    ENDED = "ended"  # the case closed: a reply gets a polite answer, nothing is posted


class MailMember(SQLModel, table=True):
    """A person in a case room by e-mail. ``token`` is in their reply address (``case-<number>+<token>@...``) and
    is the only thing that lets mail in: unguessable, unique to (case, person), dead once they leave or bounce."""

    __tablename__ = "mail_members"
    __table_args__ = (UniqueConstraint("case_id", "email", name="uq_mail_member"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    email: str = Field(max_length=320)
    name: str = ""
    token: str = Field(max_length=64, unique=True)
    state: str = Field(default=MailState.ACTIVE, max_length=16)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    thread_id: str = Field(default="", max_length=255)  # the Message-ID of their first mail: the rest refer to it
    invited_at: datetime = _ts(nullable=False, default=utcnow)
    updated_at: datetime = _ts(nullable=False, default=utcnow)


class MailDigestLine(SQLModel, table=True):
    """A timeline entry claimed for one e-mail member's mail: each entry reaches each person once, however many
    sweeps (or replicas) look at it. Claimed entries they may not see, or wrote themselves, are never sent."""

    __tablename__ = "mail_digest_lines"
    member_id: int = Field(foreign_key="mail_members.id", primary_key=True)
    event_id: int = Field(foreign_key="timeline.id", primary_key=True)


LIVE_JOBS = "status IN ('queued', 'running')"


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    # The claim's look-up of a lane's first live job. Only live rows: finished ones, the bulk of the table, cost
    # neither the claim nor the index anything.
    __table_args__ = (
        Index("ix_jobs_lane_live", "lane", "run_at", "id", sqlite_where=text(LIVE_JOBS),
              postgresql_where=text(LIVE_JOBS)),
        # The hourly purge's range over finished jobs; by its first column the dashboard's jobs of one status.
        Index("ix_jobs_status_finished_at", "status", "finished_at"),
    )  # fmt: skip
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    key: str | None = Field(default=None, unique=True, max_length=255)  # enqueue-once key
    lane: str | None = None  # jobs of one lane never run at the same time
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, default=dict))
    status: str = Field(default=JobStatus.QUEUED)
    attempts: int = 0
    max_attempts: int = 8
    run_at: datetime = _ts(nullable=False, default=utcnow)
    locked_by: str | None = None
    locked_until: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts(nullable=False, default=utcnow)
    finished_at: datetime | None = _ts(nullable=True)


class LaneLease(SQLModel, table=True):
    """A lane (a case, a room): who may run its jobs right now, and when its first live job is due.

    The lease that runs out frees a crashed worker's lane. ``head_at`` is what the claim orders lanes by; it is never
    later than the lane's first live job (it may be earlier: the claim then sets it right), and ``None`` when the
    lane has no live job.
    """

    __tablename__ = "lane_leases"
    __table_args__ = (
        Index("ix_lane_leases_head_at", "head_at", sqlite_where=text("head_at IS NOT NULL"),
              postgresql_where=text("head_at IS NOT NULL")),
        # The hourly purge's idle lanes.
        Index("ix_lane_leases_idle", "until", sqlite_where=text("head_at IS NULL"),
              postgresql_where=text("head_at IS NULL")),
    )  # fmt: skip
    lane: str = Field(primary_key=True, max_length=255)
    holder: str = ""
    until: datetime = _ts(nullable=False)
    head_at: datetime | None = _ts(nullable=True)
