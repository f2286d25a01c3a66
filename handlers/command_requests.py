"""A `/case ...` typed in a room -> permission check -> the command -> the answer, and a timeline entry.

Most commands run in a job. Commands marked ``fast`` read only the database, so a platform that wants an
answer inside its acknowledgement (Slack's 3 seconds) can get it from :func:`answer_inline`.
"""

from __future__ import annotations

import logging

import handlers.commands  # noqa: F401  (registers the command families)
from bot import cases, timeline
from bot.commands import Invocation, Reply, parse, registry
from bot.events import CommandRequest
from bot.membership import participant, participant_by_user_id
from bot.models import Case, Job, Role, Room
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
    role = _role(sv, req, case)
    if role is None and _in_room(sv, req):
        role = Role.MEMBER
    reply = _answer(sv, req, case, room, role, f"command:{job.key or job.id}")
    if not reply.text:
        return
    if reply.public:
        messenger.post(req.room_id, reply.text)
    else:
        messenger.reply_private(req.room_id, req.actor.user_id, reply.text, reply_token=req.reply_token)


def answer_inline(sv: Services, req: CommandRequest, key: str, *, actor_in_room: bool) -> Reply | None:
    """Answer a fast command now (no platform call); ``None`` when it must go through a job."""
    name, _, _ = parse(req.text)
    spec = registry.get(name)
    if spec is not None and not spec.fast:
        return None
    found = _case_room(sv, req)
    if found is None:
        return Reply(NOT_A_CASE_ROOM)
    case, room = found
    role = _role(sv, req, case) or (Role.MEMBER if actor_in_room else None)
    return _answer(sv, req, case, room, role, f"command:{key}")


def _case_room(sv: Services, req: CommandRequest) -> tuple[Case, Room] | None:
    with sv.db.session() as s:
        return cases.find_by_room(s, req.platform, req.room_id)


def _role(sv: Services, req: CommandRequest, case: Case) -> Role | None:
    assert case.id is not None
    with sv.db.session() as s:
        if req.actor.email:
            p = participant(s, case.id, req.actor.email)
        else:  # some platforms name only the user id in the request (Slack's slash commands)
            p = participant_by_user_id(s, case.id, req.actor.user_id)
    return Role(p.role) if p and p.status not in ("removed", "left", "refused") else None


def _answer(sv: Services, req: CommandRequest, case: Case, room: Room, role: Role | None, key: str) -> Reply:
    assert case.id is not None
    name, args, raw = parse(req.text)
    reply = registry.run(Invocation(sv, req, case, room, role, name, args, raw))
    with sv.db.session() as s:
        timeline.record(
            s,
            case.id,
            timeline.Kind.COMMAND,
            f"/case {req.text.strip()}".strip(),
            at=req.at,
            actor_email=req.actor.email or None,
            actor_name=req.actor.name or None,
            data={"command": name, "role": str(role) if role else "stranger", "public": reply.public},
            source_key=key,
        )
        s.commit()
    return reply


def _in_room(sv: Services, req: CommandRequest) -> bool:
    members = sv.messenger(req.platform).list_members(req.room_id)
    email = req.actor.email.lower()
    return any(m.member_id == req.actor.user_id or (email and m.email.lower() == email) for m in members)
