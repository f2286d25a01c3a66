"""A `/case ...` typed in a room -> permission check -> the command -> the answer, and a timeline entry.

Most commands run in a job. Commands marked ``fast`` read only the database, so a platform that wants an
answer inside its acknowledgement (Slack's 3 seconds) can get it from :func:`answer_inline`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import handlers.commands  # noqa: F401  (registers the command families)
from bot import bot_posts, cases, logs, message_entries, timeline
from bot.commands import Invocation, Reply, parse
from bot.events import CommandRequest
from bot.membership import participant_for
from bot.models import Case, Job, ParticipantStatus, Role, Room
from bot.services import Services

log = logging.getLogger(__name__)

KIND = "command"
NOT_A_CASE_ROOM = "This room is not a CaseRoom case room."


def run(sv: Services, job: Job) -> None:
    req = CommandRequest.from_payload(job.payload)
    messenger = sv.messenger(req.platform)
    found = _case_room(sv, req)
    if found is None:
        messenger.reply_private(req.room_id, req.actor.user_id, NOT_A_CASE_ROOM, reply_token=req.reply_token)
        return
    case, room = found
    with logs.about_case(case.number):  # an invitation's lines name the case
        role = _role(sv, req, case, may_ask_platform=True)
        reply = _answer(sv, req, case, room, role, f"command:{job.key or job.id}")
    if not reply.text:
        return
    if reply.public:
        assert case.id is not None
        bot_posts.say(sv, case.id, req.platform, req.room_id, reply.text)
    else:
        messenger.reply_private(req.room_id, req.actor.user_id, reply.text, reply_token=req.reply_token)


ANSWERED_BEFORE = Reply("")  # the same request came before: it is not run (or answered) again


def answer_inline(sv: Services, req: CommandRequest, key: str, first_time: Callable[[], bool]) -> Reply | None:
    """Answer a fast command now (no platform call); ``None`` when it must go through a job.

    Only someone the room's own record shows in the room is answered here. Anyone else (a workspace
    member looking into the channel, someone just removed, a join not yet processed) goes through the job,
    which asks the platform who is in the room before answering. ``first_time`` records the request as a
    delivery just before the command runs; when it was recorded before, the answer is :data:`ANSWERED_BEFORE`.
    """
    name, _, _ = parse(req.text)
    spec = sv.commands.get(name)
    if spec is not None and not spec.fast:
        return None
    found = _case_room(sv, req)
    if found is None:
        return Reply(NOT_A_CASE_ROOM)
    case, room = found
    role = _role(sv, req, case, may_ask_platform=False)
    if role is None:
        return None
    if not first_time():
        return ANSWERED_BEFORE
    return _answer(sv, req, case, room, role, f"command:{key}")


def _case_room(sv: Services, req: CommandRequest) -> tuple[Case, Room] | None:
    with sv.db.session() as s:
        return cases.find_by_room(s, req.platform, req.room_id)


IN_ROOM = (ParticipantStatus.ADDED, ParticipantStatus.JOINED)  # "in the room now"
# Whatever role they had, it ended with this.
GONE = (ParticipantStatus.REMOVED, ParticipantStatus.LEFT, ParticipantStatus.REFUSED)


def _role(sv: Services, req: CommandRequest, case: Case, *, may_ask_platform: bool) -> Role | None:
    """The asker's role in this room; ``None`` for anyone not in it (they get no answer but a refusal).

    The room's record answers for people it shows in the room; otherwise, with ``may_ask_platform``, the
    platform's member list decides: someone in the room the record does not know (yet) is a member.
    """
    assert case.id is not None
    with sv.db.session() as s:
        p = participant_for(s, case.id, req.actor)
    if p is not None and p.status in IN_ROOM:
        return Role(p.role)
    if not may_ask_platform or not _in_room(sv, req):
        return None
    return Role(p.role) if p is not None and p.status not in GONE else Role.MEMBER


def _answer(sv: Services, req: CommandRequest, case: Case, room: Room, role: Role | None, key: str) -> Reply:
    assert case.id is not None
    name, args, raw = parse(req.text)
    reply = sv.commands.run(Invocation(sv, req, case, room, role, name, args, raw, key))
    text = f"/case {req.text.strip()}".strip()
    data = {
        "command": name,
        "role": str(role) if role else "stranger",
        "public": reply.public,
        "audience": sv.commands.audience(name),
        "parent_id": req.parent_id,
    }
    email, who = req.actor.email or None, req.actor.name or None
    with sv.db.session() as s:
        if req.message_id:  # typed as a message: that message's one entry, wherever the room's events meet it
            message_entries.record_command(s, case.id, message_id=req.message_id, text=text, at=req.at,
                                           actor_email=email, actor_name=who, data=data)  # fmt: skip
        else:
            timeline.record(s, case.id, timeline.Kind.COMMAND, text, at=req.at, actor_email=email, actor_name=who,
                            data=data, source_key=key)  # fmt: skip
        s.commit()
    return reply


def _in_room(sv: Services, req: CommandRequest) -> bool:
    members = sv.messenger(req.platform).list_members(req.room_id)
    email = req.actor.email.lower()
    return any(m.member_id == req.actor.user_id or (email and m.email.lower() == email) for m in members)
