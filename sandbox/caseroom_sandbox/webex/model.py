"""The records the emulator keeps, and how each one looks on the Webex wire."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Person:
    id: str
    email: str
    name: str
    org_id: str
    type: str  # "person" | "bot"
    created: str
    token: str | None = None
    invited: bool = False  # added to a room by e-mail before they had an account
    compliance: bool = False  # a compliance officer reads every room of the org

    def to_json(self) -> dict[str, Any]:
        first, _, last = self.name.partition(" ")
        return {
            "id": self.id,
            "emails": [self.email],
            "phoneNumbers": [],
            "displayName": self.name,
            "nickName": first,
            "firstName": first,
            "lastName": last or None,
            "orgId": self.org_id,
            "created": self.created,
            "lastModified": self.created,
            "status": "unknown" if self.invited else "active",
            "type": self.type,
        }


@dataclass
class Room:
    id: str
    title: str
    type: str  # "group" | "direct"
    creator_id: str
    owner_id: str
    created: str
    last_activity: str
    is_locked: bool = False
    is_announcement_only: bool = False
    team_id: str | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "isLocked": self.is_locked,
            "isAnnouncementOnly": self.is_announcement_only,
            "isReadOnly": False,
            "isPublic": False,
            "teamId": self.team_id,
            "lastActivity": self.last_activity,
            "creatorId": self.creator_id,
            "created": self.created,
            "ownerId": self.owner_id,
            "description": self.description,
        }


@dataclass
class Membership:
    id: str
    room_id: str
    person_id: str
    created: str
    is_moderator: bool = False
    is_room_hidden: bool = False

    def to_json(self, person: Person, room: Room) -> dict[str, Any]:
        return {
            "id": self.id,
            "roomId": self.room_id,
            "personId": self.person_id,
            "personEmail": person.email,
            "personDisplayName": person.name,
            "personOrgId": person.org_id,
            "isModerator": self.is_moderator,
            "isMonitor": False,
            "isRoomHidden": self.is_room_hidden,
            "roomType": room.type,
            "created": self.created,
        }


@dataclass
class Content:
    id: str
    name: str
    mime: str
    data: bytes
    room_id: str
    scan: str = "clean"  # "clean" | "scanning" | "infected" | "unscannable" (encrypted, say)


@dataclass
class Message:
    id: str
    seq: int  # creation order; timestamps can tie within a millisecond
    room_id: str
    room_type: str
    person_id: str
    person_email: str
    created: str
    text: str | None = None
    markdown: str | None = None
    html: str | None = None
    parent_id: str | None = None
    files: list[str] = field(default_factory=list)  # content ids
    links: list[str] = field(default_factory=list)  # file links on other hosts, kept as given (control API only)
    mentioned_people: list[str] = field(default_factory=list)
    mentioned_groups: list[str] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    updated: str | None = None  # set by an edit, as Webex sets it
    edits: int = 0

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "roomId": self.room_id,
            "roomType": self.room_type,
            "parentId": self.parent_id,
            "text": self.text,
            "markdown": self.markdown,
            "html": self.html,
            "files": self.file_urls(base) or None,
            "personId": self.person_id,
            "personEmail": self.person_email,
            "mentionedPeople": self.mentioned_people or None,
            "mentionedGroups": self.mentioned_groups or None,
            "attachments": self.attachments or None,
            "created": self.created,
            "updated": self.updated,
        }

    def file_urls(self, base: str) -> list[str]:
        return [f"{base}v1/contents/{cid}" for cid in self.files] + self.links

    def notification(self, base: str) -> dict[str, Any]:
        """``data`` of a messages webhook: never the text, the receiver fetches the message."""
        return {
            "id": self.id,
            "roomId": self.room_id,
            "roomType": self.room_type,
            "parentId": self.parent_id,
            "personId": self.person_id,
            "personEmail": self.person_email,
            "mentionedPeople": self.mentioned_people or None,
            "mentionedGroups": self.mentioned_groups or None,
            "files": self.file_urls(base) or None,
            "created": self.created,
            "updated": self.updated,
        }


@dataclass
class Webhook:
    id: str
    owner_id: str
    org_id: str
    app_id: str
    name: str
    target_url: str
    resource: str
    event: str
    created: str
    filter: str | None = None
    secret: str | None = None
    status: str = "active"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "targetUrl": self.target_url,
            "resource": self.resource,
            "event": self.event,
            "filter": self.filter,
            "secret": self.secret,
            "orgId": self.org_id,
            "createdBy": self.owner_id,
            "appId": self.app_id,
            "ownedBy": "creator",
            "status": self.status,
            "created": self.created,
        }

    def filters(self) -> dict[str, str]:
        pairs = (part.partition("=") for part in (self.filter or "").split("&") if part)
        return {k: v for k, _, v in pairs}


@dataclass
class Event:
    """Something a webhook may be told about. ``data`` is the notification's ``data`` object."""

    resource: str
    event: str
    actor_id: str
    room_id: str
    data: dict[str, Any]
    subject_id: str = ""  # the person a membership is about, or a message's author
    mentioned: list[str] = field(default_factory=list)
