"""What happens in a room -> the timeline, and an announcement for joins, leaves and uploads."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session

from bot import bot_posts, cases, copy, filing, message_entries, timeline
from bot.events import RoomEvent
from bot.membership import display_name, participant
from bot.models import Job, Participant, ParticipantStatus, Role, TimelineEvent
from bot.services import Services
from bot.sqlutil import insert_ignore
from integrations.messaging import PermanentPlatformError, TransientPlatformError

log = logging.getLogger(__name__)

KIND = "room.event"
# A room event may arrive before the job that created the room has stored its id; wait that long for it.
UNKNOWN_ROOM_GRACE = timedelta(minutes=2)

KINDS = {
    "joined": timeline.Kind.JOIN,
    "left": timeline.Kind.LEAVE,
    "file": timeline.Kind.FILE,
    "message": timeline.Kind.MESSAGE,
    "message_changed": timeline.Kind.MESSAGE_EDITED,
    "message_deleted": timeline.Kind.MESSAGE_DELETED,
}


def lane(platform: str, room_id: str) -> str:
    return f"room:{platform}:{room_id}"


def run(sv: Services, job: Job) -> None:
    ev = RoomEvent.from_payload(job.payload)
    with sv.db.session() as s:
        found = cases.find_by_room(s, ev.platform, ev.room_id)
        if found is None:
            if sv.clock() - ev.at < UNKNOWN_ROOM_GRACE:
                raise TransientPlatformError(f"room {ev.room_id} is not known yet", retry_after=5)
            log.info("event %s in room %s, which is no case room: ignored", ev.event_id, ev.room_id)
            return
        case, room = found
        assert case.id is not None
        who = display_name(s, case.id, ev.actor)
        if ev.kind == "file":
            entry = message_entries.record_upload(s, case.id, message_id=ev.message_id or ev.event_id, who=who,
                                                  files=ev.files, said=ev.text, at=ev.at, parent_id=ev.parent_id,
                                                  actor_email=ev.actor.email or None)  # fmt: skip
        else:
            entry = _record(s, case.id, ev, who)
        _track_people(s, case.id, ev)
        filing.take_uploads(s, sv, case, ev.platform, ev.files, by=ev.actor.email or ev.actor.name, at=ev.at)
        s.commit()
        assert entry.id is not None
        case_id, entry_id = case.id, entry.id
        pending, announcement = message_entries.unannounced(entry) if ev.files else ([], _announcement(ev, who))
        announced = bool(entry.data.get("announced"))
        room_id = room.room_id
        # A closing room is being emptied and archived: its leaves are on the timeline, not worth a message.
        open_room = not cases.winding_down(room)

    posted = _post(sv, ev, announcement) if announcement and not announced and room_id and open_room else None
    if posted:
        with sv.db.session() as s:
            bot_posts.posted(s, case_id, posted)
            if pending:
                message_entries.mark_announced(s, entry_id, pending)
            else:
                row = s.get(TimelineEvent, entry_id)
                assert row is not None
                row.data = {**row.data, "announced": True}
                s.add(row)
            s.commit()


def _record(s: Session, case_id: int, ev: RoomEvent, who: str) -> TimelineEvent:
    """A join, leave, message, edit or deletion onto the timeline, once per platform event."""
    # A message's entry is keyed as closure's export keys it, so each message is recorded once.
    key = message_entries.key(ev.message_id) if ev.kind == "message" and ev.message_id else f"{ev.kind}:{ev.event_id}"
    timeline.record(s, case_id, KINDS[ev.kind], _timeline_text(ev, who), at=ev.at, actor_email=ev.actor.email or None,
                    actor_name=who or None, data={"message_id": ev.message_id, "parent_id": ev.parent_id,
                                                  "announced": False},
                    source_key=key)  # fmt: skip
    entry = timeline.keyed(s, case_id, key)
    assert entry is not None
    return entry


def _post(sv: Services, ev: RoomEvent, text: str) -> str | None:
    """Announce in the room: the post's id; ``None`` if the room was archived between our look and our post
    (nobody to tell)."""
    try:
        return sv.messenger(ev.platform).post(ev.room_id, text)
    except PermanentPlatformError:
        with sv.db.session() as s:
            found = cases.find_by_room(s, ev.platform, ev.room_id)
        if found is not None and cases.winding_down(found[1]):
            return None
        raise


def _timeline_text(ev: RoomEvent, name: str) -> str:
    if ev.kind == "joined":
        return copy.joined(name)
    if ev.kind == "left":
        return copy.left(name)
    return ev.text


def _announcement(ev: RoomEvent, name: str) -> str | None:
    return _timeline_text(ev, name) if ev.kind in ("joined", "left") else None


def _track_people(s: Session, case_id: int, ev: RoomEvent) -> None:
    if ev.kind not in ("joined", "left") or not ev.actor.email:
        return
    email = ev.actor.email.lower()
    insert_ignore(
        s,
        Participant,
        {
            "case_id": case_id,
            "email": email,
            "name": ev.actor.name,
            "role": Role.MEMBER,
            "platform_user_id": ev.actor.user_id,
            "status": ParticipantStatus.JOINED,
            "status_reason": "",
            "updated_at": ev.at,
        },
    )
    p = participant(s, case_id, email)
    assert p is not None
    p.status = ParticipantStatus.JOINED if ev.kind == "joined" else ParticipantStatus.LEFT
    p.platform_user_id = ev.actor.user_id or p.platform_user_id
    p.name = p.name or ev.actor.name
    p.updated_at = ev.at
    s.add(p)
