"""Who is in a case room: ensure a person is a member exactly once, and say so when the platform refuses."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlmodel import Session

from bot import bot_posts, copy, filing, mail_members, timeline
from bot.events import Actor
from bot.models import Participant, ParticipantStatus, Role
from bot.services import Services
from bot.sqlutil import insert_ignore
from integrations.crm import Person
from integrations.messaging import MemberOutcome

log = logging.getLogger(__name__)

# Statuses that an automatic "ensure" leaves alone. A refusal is settled too: it was told to the room
# and the CRM once; `/case invite` is how a person asks again.
SETTLED = {ParticipantStatus.ADDED, ParticipantStatus.INVITED, ParticipantStatus.JOINED, ParticipantStatus.REFUSED}
# Asked of the platform anew when someone brings them in again (``again``): the last outcome was not membership.
ASKED_AGAIN = {ParticipantStatus.REFUSED, ParticipantStatus.REMOVED, ParticipantStatus.LEFT}


def participant(s: Session, case_id: int, email: str) -> Participant | None:
    q = select(Participant).where(Participant.case_id == case_id, Participant.email == email.lower())  # type: ignore[arg-type]
    return s.execute(q).scalar_one_or_none()


def participant_by_user_id(s: Session, case_id: int, user_id: str) -> Participant | None:
    q = select(Participant).where(Participant.case_id == case_id, Participant.platform_user_id == user_id)  # type: ignore[arg-type]
    return s.execute(q.limit(1)).scalar_one_or_none()


def participant_for(s: Session, case_id: int, actor: Actor) -> Participant | None:
    """The case's record of whoever a platform event names: by address, else by user id (Slack's slash commands
    name only the id). Nobody for an actor named by neither."""
    if actor.email:
        return participant(s, case_id, actor.email)
    return participant_by_user_id(s, case_id, actor.user_id) if actor.user_id else None


def display_name(s: Session, case_id: int, actor: Actor) -> str:
    """How the room names someone: the name the platform gave, else the case's record of them, else their address.

    Some platform events carry no name (a Webex message names only its sender's address); joins do, and so does
    the CRM for the people it names, so announcements and notes read alike whichever event brought them.
    """
    if actor.name:
        return actor.name
    p = participant_for(s, case_id, actor)
    return (p.name if p is not None else None) or actor.email or actor.user_id


def participants(s: Session, case_id: int) -> list[Participant]:
    q = select(Participant).where(Participant.case_id == case_id).order_by(Participant.id)  # type: ignore[arg-type]
    return list(s.execute(q).scalars().all())


def ensure_member(
    sv: Services,
    *,
    case_id: int,
    crm_id: str,
    platform: str,
    room_id: str,
    person: Person,
    role: Role,
    external: bool = False,
    again: bool = False,
) -> str:
    """Add ``person`` to the room unless already done; returns the participant's status.

    A refusal is not an exception: it is told to the room, to the CRM case and to the timeline, and the
    case goes on (the customer may still join by other means).
    """
    email = person.email.lower()
    with sv.db.session() as s:
        insert_ignore(
            s,
            Participant,
            {
                "case_id": case_id,
                "email": email,
                "name": person.name,
                "role": role,
                "timezone": person.timezone,
                "status": ParticipantStatus.PENDING,
                "status_reason": "",
                "updated_at": sv.clock(),
            },
        )
        p = participant(s, case_id, email)
        assert p is not None
        if p.role != role and role == Role.ENGINEER:
            p.role = role  # someone already in the room became the case's engineer
            s.add(p)
        s.commit()
        if p.status in SETTLED and not (again and p.status in ASKED_AGAIN):
            return p.status

    result = sv.messenger(platform).add_member(room_id, email, external=external)

    # Tell people first, then record: a crash in between repeats the message rather than losing it.
    posted = None
    if result.outcome == MemberOutcome.REFUSED:
        posted = sv.messenger(platform).post(room_id, copy.refused(email, result.reason))
        if crm := sv.crm_for(crm_id):
            # Once per person and reason: a retried or repeated invitation refused alike adds nothing new.
            filing.comment(sv, crm, case_id, crm_id, f"refused:{email.lower()}:{result.reason}",
                           f"CaseRoom: {copy.refused(email, result.reason)}")  # fmt: skip
    elif result.outcome == MemberOutcome.INVITED:
        posted = sv.messenger(platform).post(room_id, copy.invited(email))

    with sv.db.session() as s:
        p = participant(s, case_id, email)
        assert p is not None
        now = sv.clock()
        if result.outcome == MemberOutcome.REFUSED:
            p.status, p.status_reason = ParticipantStatus.REFUSED, result.reason
            text = copy.refused(email, result.reason)
            timeline.record(s, case_id, timeline.Kind.ERROR, text, at=now, data={"email": email})
            log.warning("%s %s refused by %s: %s", role, email, platform, result.reason)
        else:
            p.status = ParticipantStatus.INVITED if result.outcome == MemberOutcome.INVITED else ParticipantStatus.ADDED
            p.platform_user_id = result.member_id or p.platform_user_id
            verb = "invited" if result.outcome == MemberOutcome.INVITED else "added"
            log.info("%s %s %s on %s", role, email, verb, platform)
            timeline.record(
                s,
                case_id,
                timeline.Kind.INVITE,
                f"{person.name or email} {verb} as {role}",
                at=now,
                data={"email": email, "role": str(role), "outcome": str(result.outcome)},
            )
        if posted:
            bot_posts.posted(s, case_id, posted)  # shown as the invitation (or refusal) entry
        p.updated_at = now
        s.add(p)
        s.commit()
        status = p.status
    if status == ParticipantStatus.REFUSED and role == Role.CUSTOMER and sv.mailer is not None:
        # The customer cannot come in on the platform: they take part by e-mail instead (rule 3: everyone joins
        # from the application they use), and the case goes on with them in it.
        return mail_members.invite(sv, case_id=case_id, person=person, role=role, by="CaseRoom")
    return status
