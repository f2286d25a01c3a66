"""What happens in a room -> the timeline, and an announcement for joins, leaves and uploads."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot import cases, copy, timeline
from bot.events import RoomEvent
from bot.jobs import PermanentJobError
from bot.membership import participant
from bot.models import Case, CaseFile, Job, Participant, Role, TimelineEvent
from bot.services import Services
from bot.sqlutil import insert_ignore
from integrations.messaging import FileRef, PermanentPlatformError, TransientPlatformError

log = logging.getLogger(__name__)

KIND = "room.event"
FILE_KIND = "file.to_crm"
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
        key = f"{ev.kind}:{ev.event_id}" if not ev.kind.startswith("message") else _message_key(ev)
        timeline.record(
            s,
            case.id,
            KINDS[ev.kind],
            _timeline_text(ev),
            at=ev.at,
            actor_email=ev.actor.email or None,
            actor_name=ev.actor.name or None,
            data={
                "message_id": ev.message_id,
                "parent_id": ev.parent_id,
                "announced": False,
                "files": [f.name for f in ev.files],
            },
            source_key=key,
        )
        _track_people(s, case.id, ev)
        new_files = [f for f in ev.files if _add_file(s, case.id, f, ev)]
        s.commit()
        entry = s.execute(
            select(TimelineEvent).where(TimelineEvent.case_id == case.id, TimelineEvent.source_key == key)  # type: ignore[arg-type]
        ).scalar_one()
        room_id, crm_id, case_id = room.room_id, case.crm_id, case.id
        # A closing room is being emptied and archived: its leaves are on the timeline, not worth a message.
        open_room = not cases.winding_down(room)

    announcement = _announcement(ev)
    if announcement and not entry.data.get("announced") and room_id and open_room and _post(sv, ev, announcement):
        with sv.db.session() as s:
            row = s.get(TimelineEvent, entry.id)
            assert row is not None
            row.data = {**row.data, "announced": True}
            s.add(row)
            s.commit()
    if sv.crm:
        for f in new_files:
            sv.queue.submit(
                FILE_KIND,
                {
                    "case_id": case_id,
                    "crm_id": crm_id,
                    "platform": ev.platform,
                    "file": {"file_id": f.file_id, "name": f.name, "size": f.size, "mime": f.mime},
                },
                key=f"file:{case_id}:{f.file_id}",
                lane=f"file:{case_id}:{f.file_id}",
            )


def _post(sv: Services, ev: RoomEvent, text: str) -> bool:
    """Announce in the room; ``False`` if it was archived between our look and our post (nobody to tell)."""
    try:
        sv.messenger(ev.platform).post(ev.room_id, text)
    except PermanentPlatformError:
        with sv.db.session() as s:
            found = cases.find_by_room(s, ev.platform, ev.room_id)
        if found is not None and cases.winding_down(found[1]):
            return False
        raise
    return True


def file_to_crm(sv: Services, job: Job) -> None:
    """Download an uploaded file and attach it to the CRM case (423 while scanning retries; 410 is final)."""
    p = job.payload
    if sv.crm is None:
        raise PermanentJobError("no CRM is configured to file the upload on")
    with sv.db.session() as s:
        if _case_file(s, p).crm_ref:
            return
    got = sv.messenger(p["platform"]).download_file(FileRef(**p["file"]))
    ref = sv.crm.attach_file(p["crm_id"], got.name, got.content, got.mime)
    with sv.db.session() as s:
        row = _case_file(s, p)
        row.crm_ref = ref
        s.add(row)
        s.commit()


def file_not_filed(sv: Services, job: Job, error: str) -> None:
    """A file that can never be filed (quarantined, too big, gone): say so in the room and on the timeline."""
    p = job.payload
    name = p["file"]["name"] or "a file"
    text = copy.file_not_filed(name, error)
    with sv.db.session() as s:
        case = s.get(Case, p["case_id"])
        room = cases.room_of(s, p["case_id"]) if case else None
        timeline.record(s, p["case_id"], timeline.Kind.ERROR, text, at=sv.clock(), data={"file": p["file"]},
                        source_key=f"file-failed:{p['file']['file_id']}")  # fmt: skip
        s.commit()
    if room and room.room_id and not cases.winding_down(room):
        sv.messenger(p["platform"]).post(room.room_id, text)


def _case_file(s: Session, p: dict[str, Any]) -> CaseFile:
    q = select(CaseFile).where(CaseFile.case_id == p["case_id"], CaseFile.platform_file_id == p["file"]["file_id"])
    return s.execute(q).scalar_one()


def _message_key(ev: RoomEvent) -> str:
    # Same key as the close-time export for the original message, so each message is recorded once.
    if ev.kind == "message":
        return f"msg:{ev.message_id}"
    return f"{ev.kind}:{ev.event_id}"


def _timeline_text(ev: RoomEvent) -> str:
    name = ev.actor.name or ev.actor.email or ev.actor.user_id
    if ev.kind == "joined":
        return copy.joined(name)
    if ev.kind == "left":
        return copy.left(name)
    if ev.kind == "file":
        return "; ".join(copy.uploaded(name, f.name, f.size) for f in ev.files)
    return ev.text


def _announcement(ev: RoomEvent) -> str | None:
    if ev.kind in ("joined", "left", "file"):
        return _timeline_text(ev)
    if ev.kind == "message" and ev.files:
        name = ev.actor.name or ev.actor.email or ev.actor.user_id
        return "; ".join(copy.uploaded(name, f.name, f.size) for f in ev.files)
    return None


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
            "status": "joined",
            "status_reason": "",
            "updated_at": ev.at,
        },
    )
    p = participant(s, case_id, email)
    assert p is not None
    p.status = "joined" if ev.kind == "joined" else "left"
    p.platform_user_id = ev.actor.user_id or p.platform_user_id
    p.name = p.name or ev.actor.name
    p.updated_at = ev.at
    s.add(p)


def _add_file(s: Session, case_id: int, f: FileRef, ev: RoomEvent) -> bool:
    return (
        insert_ignore(
            s,
            CaseFile,
            {
                "case_id": case_id,
                "platform_file_id": f.file_id,
                "name": f.name,
                "size": f.size,
                "mime": f.mime,
                "uploaded_by": ev.actor.email or ev.actor.name,
                "uploaded_at": ev.at,
            },
        )
        is not None
    )
