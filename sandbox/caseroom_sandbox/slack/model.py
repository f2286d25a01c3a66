"""The workspace's objects and their JSON as the Web API and the Events API show them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class User:
    id: str
    team_id: str
    email: str
    name: str
    real_name: str
    tz: str = "Europe/Amsterdam"
    is_bot: bool = False
    bot_id: str | None = None
    external: bool = False
    updated: int = 0

    def to_json(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.name,
            "display_name_normalized": self.name,
            "avatar_hash": "g" + hashlib.sha1(self.id.encode(), usedforsecurity=False).hexdigest()[:11],
            "team": self.team_id,
        }
        if self.is_bot:
            profile["bot_id"] = self.bot_id
        else:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": 0,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": self.updated,
        }


@dataclass
class FileObj:
    id: str
    name: str
    title: str
    mimetype: str
    user: str
    created: int
    data: bytes | None = None  # None until the bytes have been uploaded
    length: int = 0
    channels: list[str] = field(default_factory=list)
    upload_key: str = ""
    external_url: str = ""  # a remote file (files.remote.add): its bytes live on that host, not on Slack

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.length

    def to_json(self, base: str, team_id: str, team_domain: str) -> dict[str, Any]:
        ext = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary"
        root = f"{base}files-pri/{team_id}-{self.id}"
        found = {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title,
            "mimetype": self.mimetype,
            "filetype": ext,
            "pretty_type": ext.upper(),
            "user": self.user,
            "user_team": team_id,
            "mode": "hosted",
            "editable": False,
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "size": self.size,
            "url_private": f"{root}/{self.name}",
            "url_private_download": f"{root}/download/{self.name}",
            "permalink": f"https://{team_domain}.slack.com/files/{self.user}/{self.id}/{self.name}",
            "channels": list(self.channels),
            "groups": [],
            "ims": [],
        }
        if self.external_url:  # a remote file: Slack links its own host and has nothing to download
            del found["url_private_download"]
            found.update(mode="external", is_external=True, external_type="app", external_url=self.external_url,
                         url_private=self.external_url)  # fmt: skip
        return found


@dataclass
class Message:
    ts: str
    channel: str
    user: str
    text: str
    thread_ts: str | None = None
    subtype: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    team: str = ""
    blocks: list[Any] | None = None
    files: list[str] = field(default_factory=list)
    edited: dict[str, str] | None = None
    deleted: bool = False
    replies: list[str] = field(default_factory=list)  # ts of the replies, on a parent


@dataclass
class Invite:
    id: str
    channel_id: str
    email: str | None
    user_id: str | None
    inviter: str
    external_limited: bool
    created: int
    status: str = "pending"  # pending | accepted

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Bookmark:
    id: str
    channel_id: str
    title: str
    link: str
    type: str
    created: int
    user: str
    app_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "title": self.title,
            "link": self.link,
            "emoji": None,
            "icon_url": None,
            "type": self.type,
            "entity_id": None,
            "date_created": self.created,
            "date_updated": 0,
            "rank": "U",
            "last_updated_by_user_id": self.user,
            "last_updated_by_team_id": "",
            "shortcut_id": None,
            "app_id": self.app_id,
        }


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    created: int
    creator: str
    is_archived: bool = False
    topic: dict[str, Any] = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    purpose: dict[str, Any] = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    members: list[str] = field(default_factory=list)
    bookmarks: list[Bookmark] = field(default_factory=list)
    shared_team_ids: list[str] = field(default_factory=list)  # other teams connected through Slack Connect
    messages: dict[str, Message] = field(default_factory=dict)  # ts -> message (parents and replies)

    @property
    def is_ext_shared(self) -> bool:
        return bool(self.shared_team_ids)

    @property
    def type_letter(self) -> str:
        return "G" if self.is_private else "C"

    @property
    def event_type(self) -> str:
        return "group" if self.is_private else "channel"

    def to_json(self, viewer: str, team_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": self.created,
            "creator": self.creator,
            "is_archived": self.is_archived,
            "is_general": False,
            "unlinked": 0,
            "is_shared": self.is_ext_shared,
            "is_ext_shared": self.is_ext_shared,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "shared_team_ids": [team_id, *self.shared_team_ids],
            "context_team_id": team_id,
            "updated": self.created * 1000,
            "is_member": viewer in self.members,
            "num_members": len(self.members),
            "topic": dict(self.topic),
            "purpose": dict(self.purpose),
            "previous_names": [],
        }
