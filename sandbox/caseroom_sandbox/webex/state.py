"""The emulator's memory: people, rooms and memberships, with the permission rules Webex applies.

One re-entrant lock guards everything: handlers run on the event loop, deliveries on their own thread,
and the control API and tests poke at the same records.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any

from caseroom_sandbox.webex.model import Content, Event, Membership, Message, Person, Room, Webhook
from caseroom_sandbox.webex.wire import IdMaker, WebexError, timestamp

NO_ROOM = "Could not find a room with provided ID."


class Store:
    def __init__(self, org_id: str, seed: int | None = None) -> None:
        self.lock = threading.RLock()
        self.org_id = org_id
        self.ids = IdMaker(seed)
        self.people: dict[str, Person] = {}
        # Domains whose organisations block communication outside them (Control Hub's "block external
        # communication"): their people cannot be brought into another org's space, as guests or otherwise.
        self.closed_domains: set[str] = set()
        self.on_event: Callable[[Event], None] = lambda event: None
        self.clear()

    def clear(self) -> None:
        """Forget rooms, messages, files and webhooks; people (and their tokens) stay valid."""
        with self.lock:
            self.rooms: dict[str, Room] = {}
            self.memberships: dict[str, Membership] = {}
            self.messages: dict[str, Message] = {}
            self.contents: dict[str, Content] = {}
            self.webhooks: dict[str, Webhook] = {}
            self.seq = 0

    def emit(self, event: Event) -> None:
        self.on_event(event)

    # -- people -------------------------------------------------------------------------------------
    def add_person(
        self, email: str, name: str, *, type: str = "person", org_id: str | None = None, invited: bool = False
    ) -> Person:
        with self.lock:
            found = self.person_by_email(email)
            if found:
                return found
            person = Person(
                id=self.ids.make("PEOPLE"),
                email=email.lower(),
                name=name,
                org_id=org_id or self.org_id,
                type=type,
                created=timestamp(),
                token=secrets.token_urlsafe(32),
                invited=invited,
            )
            self.people[person.id] = person
            return person

    def person_by_email(self, email: str) -> Person | None:
        email = email.strip().lower()
        with self.lock:
            return next((p for p in self.people.values() if p.email == email), None)

    def person_by_token(self, token: str) -> Person | None:
        with self.lock:
            return next((p for p in self.people.values() if p.token and secrets.compare_digest(p.token, token)), None)

    def person(self, person_id: str) -> Person:
        with self.lock:
            found = self.people.get(person_id)
        if found is None:
            raise WebexError(404, "Person not found.")
        return found

    # -- rooms --------------------------------------------------------------------------------------
    def membership_of(self, room_id: str, person_id: str) -> Membership | None:
        with self.lock:
            return next(
                (m for m in self.memberships.values() if m.room_id == room_id and m.person_id == person_id), None
            )

    def members(self, room_id: str) -> list[Membership]:
        with self.lock:
            return [m for m in self.memberships.values() if m.room_id == room_id]

    def readable_room(self, caller: Person, room_id: str) -> Room:
        """The room if ``caller`` may read it; Webex answers 404 (not 403) for rooms you are not in."""
        with self.lock:
            room = self.rooms.get(room_id)
            if room is None or not (caller.compliance or self.membership_of(room_id, caller.id)):
                raise WebexError(404, NO_ROOM)
            return room

    def member_room(self, caller: Person, room_id: str) -> tuple[Room, Membership]:
        with self.lock:
            room = self.rooms.get(room_id)
            mine = self.membership_of(room_id, caller.id) if room else None
            if room is None or mine is None:
                raise WebexError(404, NO_ROOM)
            return room, mine

    def require_moderator(self, room: Room, mine: Membership) -> None:
        if room.is_locked and not mine.is_moderator:
            raise WebexError(403, "This action requires moderator privileges in a locked room.")

    def create_room(self, caller: Person, body: dict[str, Any]) -> Room:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise WebexError(400, "title cannot be empty.")
        locked = bool(body.get("isLocked", False))
        announcement = bool(body.get("isAnnouncementOnly", False))
        if announcement and not locked:
            raise WebexError(400, "Announcement mode is only available in a locked (moderated) room.")
        with self.lock:
            now = timestamp()
            room = Room(
                id=self.ids.make("ROOM"),
                title=title,
                type="group",
                creator_id=caller.id,
                owner_id=caller.org_id,
                created=now,
                last_activity=now,
                is_locked=locked,
                is_announcement_only=announcement,
                team_id=body.get("teamId"),
                description=body.get("description"),
            )
            self.rooms[room.id] = room
            # A locked room makes its creator its moderator; otherwise nobody can moderate it.
            self.join(room, caller, actor=caller, moderator=locked)
            return room

    def direct_room(self, caller: Person, other: Person) -> Room:
        """The 1:1 room of two people, created on first message as Webex does."""
        with self.lock:
            for room in self.rooms.values():
                if room.type == "direct" and {m.person_id for m in self.members(room.id)} == {caller.id, other.id}:
                    return room
            now = timestamp()
            room = Room(self.ids.make("ROOM"), other.name, "direct", caller.id, caller.org_id, now, now)
            self.rooms[room.id] = room
            self.join(room, caller, actor=caller)
            self.join(room, other, actor=caller)
            return room

    def list_rooms(self, caller: Person, room_type: str | None, sort_by: str | None) -> list[Room]:
        with self.lock:
            mine = {m.room_id for m in self.memberships.values() if m.person_id == caller.id}
            rooms = [r for r in self.rooms.values() if r.id in mine and (room_type is None or r.type == room_type)]
        key = {"created": "created", "lastactivity": "last_activity"}.get((sort_by or "").lower(), "created")
        return sorted(rooms, key=lambda r: (getattr(r, key), r.id), reverse=True)

    def update_room(self, caller: Person, room_id: str, body: dict[str, Any]) -> Room:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise WebexError(400, "title cannot be empty.")
        with self.lock:
            room, mine = self.member_room(caller, room_id)
            self.require_moderator(room, mine)
            locked = bool(body.get("isLocked", room.is_locked))
            announcement = bool(body.get("isAnnouncementOnly", room.is_announcement_only))
            if announcement and not locked:
                raise WebexError(400, "Announcement mode is only available in a locked (moderated) room.")
            if locked and not room.is_locked:
                mine.is_moderator = True  # whoever locks a room becomes its moderator
            room.title, room.is_locked, room.is_announcement_only = title, locked, announcement
            room.description = body.get("description", room.description)
            return room

    def delete_room(self, caller: Person, room_id: str) -> None:
        with self.lock:
            room, mine = self.member_room(caller, room_id)
            if room.is_locked and not mine.is_moderator:
                # A non-moderator "deleting" a locked room only leaves it.
                self.leave(mine, actor=caller)
                return
            for m in self.members(room_id):
                del self.memberships[m.id]
            for msg in [m for m in self.messages.values() if m.room_id == room_id]:
                del self.messages[msg.id]
            del self.rooms[room_id]

    # -- memberships --------------------------------------------------------------------------------
    def join(self, room: Room, person: Person, *, actor: Person, moderator: bool = False) -> Membership:
        with self.lock:
            if self.membership_of(room.id, person.id):
                raise WebexError(409, "Person is already in the room.")
            membership = Membership(self.ids.make("MEMBERSHIP"), room.id, person.id, timestamp(), moderator)
            self.memberships[membership.id] = membership
            room.last_activity = membership.created
            data = membership.to_json(person, room)
        self.emit(Event("memberships", "created", actor.id, room.id, data, subject_id=person.id))
        return membership

    def leave(self, membership: Membership, *, actor: Person) -> None:
        with self.lock:
            room = self.rooms[membership.room_id]
            data = membership.to_json(self.people[membership.person_id], room)
            self.memberships.pop(membership.id, None)
        self.emit(Event("memberships", "deleted", actor.id, room.id, data, subject_id=membership.person_id))

    def add_member(self, caller: Person, body: dict[str, Any]) -> Membership:
        room_id = body.get("roomId")
        if not isinstance(room_id, str):
            raise WebexError(400, "roomId is required.")
        with self.lock:
            room, mine = self.member_room(caller, room_id)
            self.require_moderator(room, mine)
            if room.type == "direct":
                raise WebexError(403, "People cannot be added to a direct room.")
            if body.get("personId"):
                person = self.person(str(body["personId"]))
            elif body.get("personEmail"):
                email = str(body["personEmail"])
                person = self.person_by_email(email) or self.invite(email)
            else:
                raise WebexError(400, "personId or personEmail is required.")
            return self.join(room, person, actor=caller, moderator=bool(body.get("isModerator", False)))

    def invite(self, email: str) -> Person:
        """Adding an unknown e-mail invites its owner: a guest from another org, invitation pending."""
        if "@" not in email:
            raise WebexError(400, "personEmail is not a valid e-mail address.")
        if email.rsplit("@", 1)[1].lower() in self.closed_domains:
            raise WebexError(403, "The person's organization does not allow communication with external users.")
        guest_org = self.ids.make("ORGANIZATION")
        return self.add_person(email, email.split("@")[0], org_id=guest_org, invited=True)

    def readable_membership(self, caller: Person, membership_id: str) -> Membership:
        with self.lock:
            membership = self.memberships.get(membership_id)
            if membership is None:
                raise WebexError(404, "Membership not found.")
            self.readable_room(caller, membership.room_id)
            return membership

    def update_membership(self, caller: Person, membership_id: str, body: dict[str, Any]) -> Membership:
        with self.lock:
            membership = self.readable_membership(caller, membership_id)
            room, mine = self.member_room(caller, membership.room_id)
            if "isModerator" in body and bool(body["isModerator"]) != membership.is_moderator:
                self.require_moderator(room, mine)
                membership.is_moderator = bool(body["isModerator"])
            if "isRoomHidden" in body and membership.person_id == caller.id:
                membership.is_room_hidden = bool(body["isRoomHidden"])
            return membership

    def remove_member(self, caller: Person, membership_id: str) -> None:
        with self.lock:
            membership = self.readable_membership(caller, membership_id)
            room, mine = self.member_room(caller, membership.room_id)
            if membership.person_id != caller.id:
                self.require_moderator(room, mine)
            self.leave(membership, actor=caller)

    # -- webhooks -----------------------------------------------------------------------------------
    def create_webhook(self, caller: Person, body: dict[str, Any]) -> Webhook:
        missing = [k for k in ("name", "targetUrl", "resource", "event") if not body.get(k)]
        if missing:
            raise WebexError(400, f"{', '.join(missing)} cannot be empty.")
        with self.lock:
            hook = Webhook(
                id=self.ids.make("WEBHOOK"),
                owner_id=caller.id,
                org_id=caller.org_id,
                app_id=self.ids.make("APPLICATION"),
                name=str(body["name"]),
                target_url=str(body["targetUrl"]),
                resource=str(body["resource"]),
                event=str(body["event"]),
                created=timestamp(),
                filter=body.get("filter") or None,
                secret=body.get("secret") or None,
            )
            self.webhooks[hook.id] = hook
            return hook

    def own_webhook(self, caller: Person, webhook_id: str) -> Webhook:
        with self.lock:
            hook = self.webhooks.get(webhook_id)
        if hook is None or hook.owner_id != caller.id:
            raise WebexError(404, "Webhook not found.")
        return hook

    def update_webhook(self, caller: Person, webhook_id: str, body: dict[str, Any]) -> Webhook:
        if not body.get("name") or not body.get("targetUrl"):
            raise WebexError(400, "name and targetUrl cannot be empty.")
        with self.lock:
            hook = self.own_webhook(caller, webhook_id)
            hook.name, hook.target_url = str(body["name"]), str(body["targetUrl"])
            hook.secret = body.get("secret", hook.secret)
            hook.status = str(body.get("status", hook.status))
            return hook

    def delete_webhook(self, caller: Person, webhook_id: str) -> None:
        with self.lock:
            self.webhooks.pop(self.own_webhook(caller, webhook_id).id)
