"""The bot's own posts in a case room, recorded when it posts them, by the ids the platform gives them.

So the live timeline is whole before closure, and closure's export, which reads the bot's posts back from the
room's history, adds none of them again. A post in the bot's own words (a welcome, a command's answer, the
closing notice) is its own entry, keyed as the export keys a message (``msg:<id>``). A post that announces a
fact the timeline holds already (a join, an upload, an invitation, a handoff card) is shown once, as that fact.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import Session

from bot import cases, copy, message_entries, timeline
from bot.models import BotPost
from bot.services import Services
from bot.sqlutil import insert_ignore

_FILE = "file:"  # marks a posted file among the posts' message ids, which no platform's message id looks like


def say(sv: Services, case_id: int, platform: str, room_id: str, text: str) -> str:
    """Post ``text`` in the room and record it as the bot's words; the platform's id of the post."""
    message_id = sv.messenger(platform).post(room_id, text)
    with sv.db.session() as s:
        timeline.record(s, case_id, timeline.Kind.BOT, text, at=sv.clock(), actor_name=copy.BOT,
                        data={"message_id": message_id}, source_key=message_entries.key(message_id))  # fmt: skip
        posted(s, case_id, message_id)
        s.commit()
    return message_id


def announce(sv: Services, case_id: int, text: str) -> str | None:
    """Post ``text``, a fact the timeline holds already, in the case's room and record the post; nothing while the
    room is not open yet or is being emptied and archived. The platform's id of the post, if posted."""
    with sv.db.session() as s:
        room = cases.room_of(s, case_id)
    if room is None or room.room_id is None or cases.winding_down(room):
        return None
    message_id = sv.messenger(room.platform).post(room.room_id, text)
    with sv.db.session() as s:
        posted(s, case_id, message_id)
        s.commit()
    return message_id


def posted(s: Session, case_id: int, message_id: str) -> None:
    """The bot posted ``message_id`` in the case's room: its own words (``say``), or an announcement of a fact that
    has its own timeline entry."""
    insert_ignore(s, BotPost, {"case_id": case_id, "message_id": message_id})


def posted_files(s: Session, case_id: int, file_ids: Sequence[str]) -> None:
    """The bot posted these files in the case's room (a reply by e-mail with attachments). The platform may not say
    at once which message holds them (a platform may share an upload after answering), so the files mark it."""
    for file_id in file_ids:
        posted(s, case_id, _FILE + file_id)


def holds_posted_files(s: Session, case_id: int, file_ids: Sequence[str]) -> bool:
    """Whether these are files the bot posted: the message holding them is the bot's, on the timeline already."""
    return bool(file_ids) and all(known(s, case_id, _FILE + file_id) for file_id in file_ids)


def known(s: Session, case_id: int, message_id: str) -> bool:
    q = select(BotPost).where(BotPost.case_id == case_id, BotPost.message_id == message_id)  # type: ignore[arg-type]
    return s.execute(q).first() is not None

