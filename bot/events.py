"""Platform-neutral inbound events, as stored in job payloads (plain JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from integrations.crm import CaseSnapshot, Person
from integrations.messaging import FileRef

CaseEventType = Literal["case.opened", "case.updated", "case.closed"]
# The CRM name (``Case.crm``) of cases that arrive on the signed JSON webhook, ``POST /webhooks/crm``.
WEBHOOK_CRM = "webhook"
RoomEventKind = Literal["joined", "left", "file", "message", "message_changed", "message_deleted"]


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def snapshot_to_dict(c: CaseSnapshot) -> dict[str, Any]:
    d = asdict(c)
    d["modified_at"] = _iso(c.modified_at)
    return d


def snapshot_from_dict(d: dict[str, Any]) -> CaseSnapshot:
    rest = {k: v for k, v in d.items() if k not in ("customer", "engineer", "modified_at")}
    return CaseSnapshot(
        **rest,
        customer=_person(d.get("customer")),
        engineer=_person(d.get("engineer")),
        modified_at=_dt(d.get("modified_at")),
    )


def _person(d: dict[str, Any] | None) -> Person | None:
    return Person(**d) if d else None


@dataclass(frozen=True)
class CaseEvent:
    event_id: str
    type: CaseEventType
    occurred_at: datetime
    case: CaseSnapshot
    crm: str = WEBHOOK_CRM  # the CRM it came from, which the case belongs to: a plugin's CRM name or WEBHOOK_CRM
    reread: bool = False  # the payload may be stale: re-read the case from the CRM first

    def to_payload(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "case": snapshot_to_dict(self.case),
            "crm": self.crm,
            "reread": self.reread,
        }

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> CaseEvent:
        return cls(
            event_id=p["event_id"],
            type=p["type"],
            occurred_at=datetime.fromisoformat(p["occurred_at"]),
            case=snapshot_from_dict(p["case"]),
            crm=_crm(p),
            reread=bool(p.get("reread", False)),
        )


def _crm(payload: dict[str, Any]) -> str:
    if "crm" in payload:
        return str(payload["crm"])
    # Queued before the CRM was named: "source" was the webhook, and "crm" the generic one's.
    source = str(payload.get("source") or "crm")
    return WEBHOOK_CRM if source == "crm" else source


@dataclass(frozen=True)
class Actor:
    user_id: str
    email: str = ""
    name: str = ""


@dataclass(frozen=True)
class RoomEvent:
    """Something happened in a room: a join, a leave, a file, a message (or its edit/deletion)."""

    platform: str
    room_id: str
    kind: RoomEventKind
    event_id: str
    at: datetime
    actor: Actor
    text: str = ""
    message_id: str | None = None
    parent_id: str | None = None
    files: tuple[FileRef, ...] = field(default_factory=tuple)

    def to_payload(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return d

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> RoomEvent:
        return cls(
            platform=p["platform"],
            room_id=p["room_id"],
            kind=p["kind"],
            event_id=p["event_id"],
            at=datetime.fromisoformat(p["at"]),
            actor=Actor(**p["actor"]),
            text=p.get("text", ""),
            message_id=p.get("message_id"),
            parent_id=p.get("parent_id"),
            files=tuple(FileRef(**f) for f in p.get("files", ())),
        )


@dataclass(frozen=True)
class CommandRequest:
    """Someone typed ``/case ...`` (or mentioned the bot) in a room."""

    platform: str
    room_id: str
    actor: Actor
    text: str  # what follows "/case"
    at: datetime
    reply_token: str | None = None  # e.g. Slack's response_url: where a private answer goes
    confirmed: bool = False  # a destructive command its asker confirmed with a button
    # The platform message that typed it, when one did (a slash command or a button press is no message): the
    # command's timeline entry is that message's entry, so closure's export of the room meets it there.
    message_id: str | None = None
    parent_id: str | None = None  # the thread it was typed in

    def to_payload(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return d

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> CommandRequest:
        return cls(
            platform=p["platform"],
            room_id=p["room_id"],
            actor=Actor(**p["actor"]),
            text=p["text"],
            at=datetime.fromisoformat(p["at"]),
            reply_token=p.get("reply_token"),
            confirmed=bool(p.get("confirmed", False)),
            message_id=p.get("message_id"),
            parent_id=p.get("parent_id"),
        )
