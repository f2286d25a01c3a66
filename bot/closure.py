"""Closing a case room: export, file everything on the CRM case, remove members, archive.

Order matters: the bot must still be in the room (and its moderator) while it exports and downloads, and
nobody may be removed before their words are safely filed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from itertools import islice

from sqlalchemy import func, select
from sqlmodel import Session, col

from bot import bot_posts, cases, copy, figures, filing, mail_digest, message_entries, timeline, transcript
from bot.events import Actor
from bot.jobs import WaitingFor
from bot.membership import display_name, participant
from bot.models import Case, CaseFile, ParticipantStatus, Room, RoomState
from bot.services import Services
from integrations.messaging import HistoryMessage

log = logging.getLogger(__name__)

HISTORY_BATCH = 200  # history messages written per transaction: short write locks, few commits


def ensure_closed(sv: Services, crm_id: str) -> None:
    with sv.db.session() as s:
        case = cases.get_case(s, crm_id)
        assert case is not None and case.id is not None
        room = cases.room_of(s, case.id)
        if room is None or room.room_id is None:
            # Closed before a room existed: nothing to tear down, and no room will be opened later.
            room = room or cases.ensure_room_row(s, case, case.platform)
            if room.state != RoomState.CLOSED:
                cases.set_state(s, room, RoomState.CLOSING, sv.clock(), "case closed before its room was created")
                cases.set_state(s, room, RoomState.CLOSED, sv.clock())
            _close_case(case, sv.clock())
            s.add(case)
            figures.store(s, case, sv.clock())
            s.commit()
            log.info("closed before its room was created: nothing to file or archive")
            return
        if room.state == RoomState.CLOSED:
            return
        cases.set_state(s, room, RoomState.CLOSING, sv.clock())
        s.commit()

    closer = _Closer(sv, case, room)
    closer.step("announce", closer.announce)
    closer.step("exported", closer.export_history)
    # After the export, so the closing mail holds the room's last words; before the transcript, which shows it.
    closer.step("mail_ended", lambda: mail_digest.end(sv, closer.case_id))
    crm = sv.crm_of(case)
    if crm:
        closer.wait_for_files()
        closer.step("transcript_filed", closer.file_transcript)
    closer.step("members_removed", closer.remove_members)
    closer.step("archived", closer.archive)

    with sv.db.session() as s:
        room = cases.ensure_room_row(s, case, room.platform)
        cases.set_state(s, room, RoomState.CLOSED, sv.clock())
        fresh = cases.get_case(s, crm_id)
        assert fresh is not None
        _close_case(fresh, sv.clock())
        s.add(fresh)
        figures.store(s, fresh, sv.clock())  # with the closed state, so a closed case always has its figures once
        s.commit()
        filed = s.execute(select(func.count()).where(col(CaseFile.case_id) == fresh.id,
                                                     col(CaseFile.crm_ref).is_not(None))).scalar_one()  # fmt: skip
    where = f"the transcript and {filed} file(s) filed on the {crm.name} case" if crm else "no CRM to file on"
    log.info("closed: %s; members removed and room archived on %s", where, room.platform)


def _close_case(case: Case, at: datetime) -> None:
    case.is_closed = True
    case.closed_at = case.closed_at or at


class _Closer:
    def __init__(self, sv: Services, case: Case, room: Room) -> None:
        assert case.id is not None and room.room_id is not None
        self.sv, self.case, self.room = sv, case, room
        self.case_id: int = case.id
        self.room_id: str = room.room_id
        self.messenger = sv.messenger(room.platform)

    def step(self, name: str, action: Callable[[], None]) -> None:
        if cases.step_done(self.room, name):
            return
        action()
        with self.sv.db.session() as s:
            room = cases.ensure_room_row(s, self.case, self.room.platform)
            cases.mark_step(s, room, name, self.sv.clock())
            s.commit()
            self.room = room

    def announce(self) -> None:
        bot_posts.say(self.sv, self.case_id, self.room.platform, self.room_id, copy.closing(self.case.number))

    def export_history(self) -> None:
        """Fill the timeline's gaps from the platform's history (live capture may have missed some).

        Fetched with no session open, written a batch per short transaction: a session held while the platform
        pages (and answers each file's details) would hold SQLite's write lock and stall every webhook's ack.
        """
        history = self.messenger.history(self.room_id)
        while batch := list(islice(history, HISTORY_BATCH)):
            with self.sv.db.session() as s:
                for msg in batch:
                    record_history_message(s, self.case_id, msg)
                s.commit()

    def wait_for_files(self) -> None:
        """The uploads' own jobs file them (one owner per file); the transcript waits until they have run."""
        with self.sv.db.session() as s:
            waiting, next_due = filing.files_in_flight(s, self.sv, self.case_id, self.case.crm_id, self.room.platform)
            s.commit()
        if waiting:
            due_in = (next_due - self.sv.clock()).total_seconds() if next_due else 0.0
            retry_after = min(max(due_in, 1.0), 60.0)
            raise WaitingFor(f"{waiting} upload(s) still to be filed on the case", retry_after=retry_after)

    def file_transcript(self) -> None:
        crm, crm_id = self.sv.crm_of(self.case), self.case.crm_id
        assert crm is not None
        visibility = self.messenger.visibility()
        # The CRM port takes bytes, so here the whole document is in memory once (read a page per session).
        doc = transcript.build(self.sv.db, self.case_id, visibility=visibility)
        page, data, comment = transcript.to_html(doc), transcript.to_json(doc), transcript.summary_comment(doc)
        name = f"case-{self.case.number}-transcript"
        filing.once(self.sv, self.case_id, "transcript.html",
                    lambda: crm.attach_file(crm_id, f"{name}.html", page.encode(), "text/html"))  # fmt: skip
        filing.once(self.sv, self.case_id, "transcript.json",
                    lambda: crm.attach_file(crm_id, f"{name}.json", data.encode(), "application/json"))  # fmt: skip
        filing.comment(self.sv, crm, self.case_id, crm_id, "transcript.summary", comment)

    def remove_members(self) -> None:
        for m in self.messenger.list_members(self.room_id):
            if m.is_bot:
                continue
            self.messenger.remove_member(self.room_id, m.member_id)
            with self.sv.db.session() as s:
                timeline.record(
                    s,
                    self.case_id,
                    timeline.Kind.REMOVE,
                    f"{m.name or m.email} removed at closure",
                    at=self.sv.clock(),
                    data={"email": m.email},
                    source_key=f"close-remove:{m.member_id}",
                )
                p = participant(s, self.case_id, m.email) if m.email else None
                if p:
                    p.status = ParticipantStatus.REMOVED
                    s.add(p)
                s.commit()

    def archive(self) -> None:
        self.messenger.archive(self.room_id)


def record_history_message(s: Session, case_id: int, msg: HistoryMessage) -> None:
    """One platform message onto the timeline, keyed like live capture so each appears once."""
    if bot_posts.known(s, case_id, msg.message_id) or bot_posts.holds_posted_files(
        s, case_id, [f.file_id for f in msg.files]
    ):
        return  # the bot's own post, recorded when it was posted
    if msg.files and not msg.deleted:
        who = display_name(s, case_id, Actor(msg.author_id, msg.author_email, msg.author_name))
        message_entries.record_upload(s, case_id, message_id=msg.message_id, who=who, files=msg.files,
                                      said=msg.text, at=msg.created, actor_email=msg.author_email or None,
                                      parent_id=msg.parent_id, extra={"from_export": True})  # fmt: skip
    else:
        _record_message(s, case_id, msg)
    for f in msg.files:
        filing.add_file(s, case_id, f, by=msg.author_email, at=msg.created)


def _record_message(s: Session, case_id: int, msg: HistoryMessage) -> None:
    kind = timeline.Kind.MESSAGE_DELETED if msg.deleted else timeline.Kind.MESSAGE
    timeline.record(
        s,
        case_id,
        kind,
        msg.text,
        at=msg.created,
        actor_email=msg.author_email or None,
        actor_name=msg.author_name or None,
        data={
            "message_id": msg.message_id,
            "parent_id": msg.parent_id,
            "edited": msg.edited.isoformat() if msg.edited else None,
            "files": [f.name for f in msg.files],
            "from_export": True,
        },
        source_key=message_entries.key(msg.message_id),
    )
