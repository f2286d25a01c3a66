"""A `/case ...` typed in a room -> permission check -> the command -> the answer, and a timeline entry."""

from __future__ import annotations

import logging

import handlers.commands  # noqa: F401  (registers the command families)
from bot import cases, timeline
from bot.commands import Invocation, parse, registry
from bot.events import CommandRequest
from bot.membership import participant
from bot.models import Job, Role
from bot.services import Services

log = logging.getLogger(__name__)

KIND = "command"


def run(sv: Services, job: Job) -> None:
    req = CommandRequest.from_payload(job.payload)
    messenger = sv.messenger(req.platform)
    with sv.db.session() as s:
        found = cases.find_by_room(s, req.platform, req.room_id)
        if found is None:
            messenger.reply_private(
                req.room_id, req.actor.user_id, "This room is not a CaseRoom case room.", reply_token=req.reply_token
            )
            return
        case, room = found
        assert case.id is not None
        p = participant(s, case.id, req.actor.email) if req.actor.email else None
        role: Role | None = Role(p.role) if p and p.status not in ("removed", "left", "refused") else None
    if role is None and _in_room(sv, req):
        role = Role.MEMBER

    name, args, raw = parse(req.text)
    reply = registry.run(Invocation(sv, req, case, room, role, name, args, raw))

    if reply.public:
        messenger.post(req.room_id, reply.text)
    else:
        messenger.reply_private(req.room_id, req.actor.user_id, reply.text, reply_token=req.reply_token)
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
            source_key=f"command:{job.key or job.id}",
        )
        s.commit()


def _in_room(sv: Services, req: CommandRequest) -> bool:
    members = sv.messenger(req.platform).list_members(req.room_id)
    email = req.actor.email.lower()
    return any(m.member_id == req.actor.user_id or (email and m.email.lower() == email) for m in members)
