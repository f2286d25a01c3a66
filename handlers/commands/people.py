"""`/case invite` and `/case remove`: who is in the room, under the invitation policy.

Policy: engineers may invite anyone; the customer may invite addresses of their own e-mail domain and
of the partner domains in ``CASEROOM_PARTNER_DOMAINS``; nobody else may invite. Only engineers remove,
and neither the customer contact nor the bot can be removed while the case is open.
"""

from __future__ import annotations

import re

from bot import mail_members, timeline
from bot.commands import Invocation, Refused, Registry, Reply, UsageError, confirmation_pending
from bot.membership import display_name, ensure_member, participant
from bot.models import ParticipantStatus, Role
from integrations.crm import Person

EMAIL = re.compile(r"^[^@\s<>&\"'`]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
MAX_INVITES = 10


def domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


family = Registry()  # this module's commands; the runtime merges the families (handlers.commands)


@family.command(
    "invite",
    usage="/case invite <email> [<email> ...] [--email]",
    summary="add people to this room",
    who="participants",
    details="Engineers may invite anyone. The customer may invite colleagues of the same e-mail domain "
    "(and of partner domains the support team allows). With --email they take part by e-mail: the room's "
    "messages reach them by mail and their replies are posted here.",
    min_args=1,
    max_args=MAX_INVITES + 1,
)
def invite(inv: Invocation) -> Reply:
    by_email = "--email" in inv.args
    emails = [a.strip("<>,;").lower() for a in inv.args if a != "--email"]
    if not emails:
        raise UsageError("Name at least one e-mail address to invite.")
    if len(emails) > MAX_INVITES:
        raise UsageError(f"At most {MAX_INVITES} people at a time.")
    if by_email and inv.sv.mailer is None:
        raise Refused("e-mail participants are not set up in this CaseRoom; ask an admin (CASEROOM_SMTP_URL).")
    bad = [e for e in emails if not EMAIL.match(e)]
    if bad:
        raise UsageError(f"Not an e-mail address: {', '.join(bad)}.")
    asker = inv.request.actor.email.lower()
    if inv.role == Role.CUSTOMER:
        allowed = {domain(asker), *inv.sv.settings.partner_domains} if asker else set(inv.sv.settings.partner_domains)
        outside = [e for e in emails if domain(e) not in allowed]
        if outside:
            raise Refused(f"customers may invite addresses of {', '.join(sorted(allowed)) or 'their own domain'} "
                          f"only; ask the engineer to invite {', '.join(outside)}.")  # fmt: skip
    case, room = inv.case, inv.room
    assert case.id is not None and room.room_id is not None
    who = inv.request.actor.name or asker or "someone"
    lines = []
    for email in emails:
        if by_email:
            role = Role.CUSTOMER if email == (case.customer_email or "").lower() else Role.MEMBER
            with inv.sv.db.session() as s:
                by = display_name(s, case.id, inv.request.actor)  # the name the mail's reader knows them by
            mail_members.invite(inv.sv, case_id=case.id, person=Person(email), role=role, by=by)
            lines.append(f"{who} invited {email} by e-mail; their replies will be posted here.")
            continue
        status = ensure_member(inv.sv, case_id=case.id, crm_id=case.crm_id, platform=room.platform,
                               room_id=room.room_id, person=Person(email), role=Role.MEMBER, external=True,
                               again=True)  # fmt: skip
        said: dict[str, str] = {
            ParticipantStatus.ADDED: f"{who} added {email} to the room.",
            ParticipantStatus.INVITED: f"{who} invited {email}; an invitation is on its way.",
            ParticipantStatus.JOINED: f"{email} is already in the room.",
            ParticipantStatus.REFUSED: f"{email} could not be added (the reason is above).",
        }
        lines.append(said.get(status, f"{email}: {status}"))
    return Reply("\n".join(lines), public=True)


@family.command(
    "remove",
    usage="/case remove <email>",
    summary="take someone out of this room",
    who="engineer",
    details="The customer contact and CaseRoom itself stay while the case is open.",
    min_args=1,
    max_args=1,
)
def remove(inv: Invocation) -> Reply:
    email = inv.args[0].strip("<>").lower()
    if not EMAIL.match(email):
        raise UsageError(f"Not an e-mail address: {email}.")
    case, room, sv = inv.case, inv.room, inv.sv
    assert case.id is not None and room.room_id is not None
    if email == (case.customer_email or "").lower():
        raise Refused(f"{email} is the customer contact of this case and stays while it is open.")
    messenger = sv.messenger(room.platform)
    members = [m for m in messenger.list_members(room.room_id) if m.email.lower() == email]
    if any(m.is_bot for m in members):
        raise Refused("CaseRoom itself stays in the room until the case closes.")
    if not members:
        raise Refused(f"{email} is not in this room.")
    asked = confirmation_pending(inv, f"Remove {email} from the room of case {case.number}?")
    if asked is not None:
        return asked
    for m in members:
        messenger.remove_member(room.room_id, m.member_id)
    who = inv.request.actor.name or inv.request.actor.email or "an engineer"
    with sv.db.session() as s:
        p = participant(s, case.id, email)
        if p:
            p.status = ParticipantStatus.REMOVED
            s.add(p)
        timeline.record(s, case.id, timeline.Kind.REMOVE, f"{who} removed {email}", at=sv.clock(),
                        actor_email=inv.request.actor.email or None, data={"email": email})  # fmt: skip
        s.commit()
    return Reply(f"{who} removed {email} from the room.", public=True)
