"""People in a case room by e-mail: invited with a reply address of their own, their replies posted as them.

Each person gets a token, unguessable and unique to (case, person), inside their reply address. Mail reaches the
room only through a live token and only from the person it was given to; the adapter that takes mail in (the SMTP
listener) asks :func:`admission` before it accepts a byte, and every accepted mail becomes a durable job whose
work (:func:`receive`) is keyed by the mail's Message-ID: a redelivered or replayed mail posts nothing new.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot import bot_posts, cases, filing, mail_copy, membership, message_entries, timeline
from bot.commands import may_read
from bot.jobs import PermanentJobError
from bot.models import Case, MailMember, MailState, Participant, ParticipantStatus, Role, TimelineEvent
from bot.services import Services
from bot.sqlutil import insert_ignore
from integrations.crm import Person
from integrations.mailer import InboundMail, MailRefused, OutboundMail
from integrations.messaging import PermanentPlatformError, PostedFiles

log = logging.getLogger(__name__)

SEND_KIND = "mail.send"
TOKEN_BYTES = 18  # 24 URL-safe characters: 144 random bits
COMMAND_WORDS = {"help", "leave"}  # a reply that is only one of these is a request, not a message


class NotConfigured(PermanentJobError):
    """E-mail participants need CASEROOM_SMTP_URL and CASEROOM_MAIL_DOMAIN."""


@dataclass(frozen=True)
class Admission:
    """What the listener needs to take or refuse a mail for a reply address."""

    email: str  # the only sender it takes mail from
    live: bool  # False: the person left or bounced; their address takes nothing


def by_token(s: Session, token: str) -> MailMember | None:
    return s.execute(select(MailMember).where(MailMember.token == token)).scalar_one_or_none()  # type: ignore[arg-type]


def member(s: Session, case_id: int, email: str) -> MailMember | None:
    q = select(MailMember).where(MailMember.case_id == case_id, MailMember.email == email.lower())  # type: ignore[arg-type]
    return s.execute(q).scalar_one_or_none()


def admission(sv: Services, token: str) -> Admission | None:
    """Whether mail to ``token`` may come in, and from whom; None for a token nobody was given."""
    with sv.db.session() as s:
        m = by_token(s, token)
        if m is None:
            return None
        return Admission(m.email, m.state in (MailState.ACTIVE, MailState.ENDED))


def invite(sv: Services, *, case_id: int, person: Person, role: Role, by: str) -> str:
    """Make ``person`` a participant by e-mail and send them their invitation, once; the participant's status.

    Asked again for someone who left or bounced, they get a new token (the old address stays dead) and a new
    invitation. Asked again for someone already in by e-mail, nothing new happens."""
    mailer = sv.mailer
    if mailer is None:
        raise NotConfigured("e-mail participants are not set up here (CASEROOM_SMTP_URL and CASEROOM_MAIL_DOMAIN)")
    email, now = person.email.lower(), sv.clock()
    with sv.db.session() as s:
        case, room = s.get(Case, case_id), cases.room_of(s, case_id)
        if case is None or room is None or room.room_id is None or cases.winding_down(room):
            raise PermanentJobError(f"case {case_id} has no open room to invite {email} to")
        assert case.id is not None
        insert_ignore(s, MailMember, {"case_id": case.id, "email": email, "name": person.name,
                                      "token": secrets.token_urlsafe(TOKEN_BYTES), "state": MailState.ACTIVE,
                                      "reason": "", "thread_id": "", "invited_at": now, "updated_at": now})  # fmt: skip
        m = member(s, case.id, email)
        assert m is not None and m.id is not None
        if m.thread_id and m.state == MailState.ACTIVE:
            return ParticipantStatus.ADDED  # in by e-mail already: their invitation went out
        if m.thread_id:  # left or bounced before: a new address, the old one stays dead
            m.token, m.state, m.reason = secrets.token_urlsafe(TOKEN_BYTES), MailState.ACTIVE, ""
            m.invited_at = now  # what the room said while they were out is not mailed to them
        invitation_id = mailer.thread_id(case.number, f"{m.id}.{m.token[:8]}")
        m.thread_id = m.thread_id or invitation_id
        m.name = m.name or person.name
        m.updated_at = now
        s.add(m)
        _participant_by_email(s, case.id, email, person, role, now)
        name = person.name or email
        timeline.record(s, case.id, timeline.Kind.INVITE, f"{name} invited by e-mail as {role}", at=now,
                        data={"email": email, "role": str(role), "outcome": "email"},
                        source_key=f"mail-invite:{_digest(m.token)}")  # fmt: skip
        text = mail_copy.invitation(name, case.number, case.subject, by, sv.stable_url(case.number))
        mail = compose(sv, case, m, text, message_id=invitation_id)
        enqueue(sv, s, case.id, m, mail)
        s.commit()
        number = case.number
    bot_posts.announce(sv, case_id, mail_copy.invited_by_email(name))  # shown as the invitation entry
    log.info("%s %s invited by e-mail to case %s", role, email, number)
    return ParticipantStatus.ADDED


def _participant_by_email(s: Session, case_id: int, email: str, person: Person, role: Role, now: Any) -> None:
    insert_ignore(s, Participant, {"case_id": case_id, "email": email, "name": person.name, "role": role,
                                   "timezone": person.timezone, "status": ParticipantStatus.ADDED,
                                   "status_reason": "", "updated_at": now, "via": "email"})  # fmt: skip
    p = membership.participant(s, case_id, email)
    assert p is not None
    p.status, p.status_reason, p.via, p.updated_at = ParticipantStatus.ADDED, "", "email", now
    s.add(p)


def compose(sv: Services, case: Case, m: MailMember, text: str, *, message_id: str) -> OutboundMail:
    mailer = sv.mailer
    assert mailer is not None
    reply_to = mailer.reply_address(case.number, m.token)
    thread = m.thread_id if m.thread_id != message_id else None
    return OutboundMail(
        to=m.email,
        to_name=m.name,
        subject=mail_copy.subject(case.number, case.subject),
        text=text,
        message_id=message_id,
        reply_to=reply_to,
        in_reply_to=thread,
        references=(thread,) if thread else (),
        # RFC 3834: auto-responders answer none of these, so an out-of-office reply never starts a loop.
        headers={
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
            "List-Unsubscribe": f"<mailto:{reply_to}?subject=leave>",
        },
    )


def enqueue(sv: Services, s: Session, case_id: int, m: MailMember, mail: OutboundMail) -> None:
    payload = {"case_id": case_id, "member_id": m.id, "mail": mail.to_payload()}
    sv.queue.enqueue(s, SEND_KIND, payload, key=f"mail:{mail.message_id}"[:255])


def send(sv: Services, payload: dict[str, Any]) -> None:
    """The ``mail.send`` job: hand one mail to the SMTP server. A hard bounce ends the person's e-mail membership
    and says so in the room; anything else is the queue's to retry."""
    mailer = sv.mailer
    if mailer is None:
        raise NotConfigured("e-mail is not configured in this process (CASEROOM_SMTP_URL)")
    mail = OutboundMail.from_payload(payload["mail"])
    try:
        mailer.send(mail)
    except MailRefused as exc:
        _bounced(sv, int(payload["case_id"]), int(payload["member_id"]), str(exc))


def _bounced(sv: Services, case_id: int, member_id: int, reason: str) -> None:
    with sv.db.session() as s:
        m = s.get(MailMember, member_id)
        if m is None or m.state != MailState.ACTIVE:
            return
        m.state, m.reason, m.updated_at = MailState.BOUNCED, reason, sv.clock()
        s.add(m)
        set_participant(s, case_id, m.email, ParticipantStatus.REMOVED, reason)
        text = mail_copy.bounced(m.name or m.email, reason)
        timeline.record(s, case_id, timeline.Kind.ERROR, text, at=sv.clock(), data={"email": m.email})
        s.commit()
    bot_posts.announce(sv, case_id, text)


def set_participant(s: Session, case_id: int, email: str, status: ParticipantStatus, reason: str = "") -> None:
    p = membership.participant(s, case_id, email)
    if p is not None:
        p.status, p.status_reason = status, reason
        s.add(p)


def _digest(text: str, length: int = 40) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def mail_key(message_id: str) -> str:
    """The timeline key of a mail: its Message-ID, hashed to a fixed length."""
    return "mail:" + _digest(message_id.strip().lower())


def receive(sv: Services, mail: InboundMail) -> str:
    """Act on one reply, once: post it in the room as its sender, or answer it (help, leave, a closed case).
    Returns what was done, in a word, for the log."""
    with sv.db.session() as s:
        m = by_token(s, mail.token)
        if m is None or m.email != mail.sender.lower():
            return "refused"  # the listener refuses these before accepting; a replayed delivery meets the same
        case = s.get(Case, m.case_id)
        room = cases.room_of(s, m.case_id)
        assert case is not None and case.id is not None
        key = mail_key(mail.message_id)
        if timeline.keyed(s, case.id, key) is not None:
            return "duplicate"
        word = mail.text.strip().strip(".!").lower()
        closed = case.is_closed or room is None or room.room_id is None or cases.winding_down(room)
        if m.state == MailState.ENDED or closed:
            return _answer(sv, s, case, m, mail, mail_copy.after_closure(case.number), key, "closed")
        if m.state != MailState.ACTIVE:
            return "refused"
        if word == "help":
            text = mail_copy.help_text(case.number, sv.stable_url(case.number))
            return _answer(sv, s, case, m, mail, text, key, "help")
        if word == "leave":
            return _leave(sv, s, case, m, mail, key)
        if not mail.text.strip() and not mail.attachments:
            return "empty"
        assert room is not None and room.room_id is not None
        platform, room_id, name = room.platform, room.room_id, m.name or mail.sender_name or m.email
    text = mail.text.strip()
    if mail.attachments:
        _post_with_files(sv, case, m, mail, platform, room_id, name, key)
        return "posted"
    posted = sv.messenger(platform).post(room_id, mail_copy.posted_by_email(name, text))
    with sv.db.session() as s:
        timeline.record(s, case.id, timeline.Kind.MESSAGE, text, at=sv.clock(), actor_email=m.email, actor_name=name,
                        data=_entry_data(mail, posted), source_key=key)  # fmt: skip
        bot_posts.posted(s, case.id, posted)
        s.commit()
    return "posted"


def _entry_data(mail: InboundMail, message_id: str) -> dict[str, Any]:
    return {"via": "email", "message_id": message_id, "mail_message_id": mail.message_id,
            "attachments": [f.name for f in mail.attachments], "authentication": mail.authentication}  # fmt: skip


def _post_with_files(sv: Services, case: Case, m: MailMember, mail: InboundMail, platform: str, room_id: str,
                     name: str, key: str) -> None:  # fmt: skip
    """Post the reply with its attachments as the bot, then record them as the sender's upload and file each on the
    case like any upload. A platform that will not take them gets the reply with the files named instead."""
    assert case.id is not None
    text = mail.text.strip()
    said = mail_copy.posted_by_email(name, text) if text else mail_copy.sent_by_email(name)
    messenger = sv.messenger(platform)
    try:
        posted = messenger.post_files(room_id, said, mail.attachments)
    except PermanentPlatformError as exc:
        names = [f.name for f in mail.attachments]
        note = mail_copy.attachments_not_posted(name, names, str(exc))
        posted = PostedFiles((messenger.post(room_id, "\n".join(filter(None, [said if text else "", note]))),), ())
    now = sv.clock()
    with sv.db.session() as s:
        first = posted.message_ids[0] if posted.message_ids else ""
        if posted.files:
            message_entries.record_upload(s, case.id, message_id=first, who=name, files=posted.files, said=text,
                                          at=now, actor_email=m.email, extra=_entry_data(mail, first),
                                          source_key=key)  # fmt: skip
        else:
            timeline.record(s, case.id, timeline.Kind.MESSAGE, text, at=now, actor_email=m.email, actor_name=name,
                            data=_entry_data(mail, first), source_key=key)  # fmt: skip
        for message_id in posted.message_ids:
            bot_posts.posted(s, case.id, message_id)
        bot_posts.posted_files(s, case.id, [f.file_id for f in posted.files])
        filing.take_uploads(s, sv, case, platform, posted.files, by=m.email, at=now)
        s.commit()


def _answer(sv: Services, s: Session, case: Case, m: MailMember, mail: InboundMail, text: str, key: str,
            what: str) -> str:  # fmt: skip
    """Answer the sender by mail (not in the room), once per mail they sent."""
    assert case.id is not None and sv.mailer is not None
    answer_id = sv.mailer.thread_id(case.number, f"re.{_digest(mail.message_id, 24)}")
    out = replace(compose(sv, case, m, text, message_id=answer_id), in_reply_to=mail.message_id,
                  references=tuple(filter(None, (m.thread_id, mail.message_id))))  # fmt: skip
    enqueue(sv, s, case.id, m, out)
    s.commit()
    return what


def _leave(sv: Services, s: Session, case: Case, m: MailMember, mail: InboundMail, key: str) -> str:
    assert case.id is not None
    now = sv.clock()
    _answer(sv, s, case, m, mail, mail_copy.left_confirmation(case.number), key, "left")
    m.state, m.reason, m.updated_at = MailState.LEFT, "left by e-mail", now
    s.add(m)
    set_participant(s, case.id, m.email, ParticipantStatus.LEFT)
    name = m.name or m.email
    timeline.record(s, case.id, timeline.Kind.LEAVE, mail_copy.left_by_email(name), at=now, actor_email=m.email,
                    actor_name=name, data={"via": "email"}, source_key=key)  # fmt: skip
    s.commit()
    bot_posts.announce(sv, case.id, mail_copy.left_by_email(name))
    return "left"


def role_in(people: dict[str, Participant], email: str | None) -> Role | None:
    """The role of ``email`` among a case's participants (keyed by lower-cased address), if they are one."""
    p = people.get((email or "").lower())
    return Role(p.role) if p is not None else None


def sees(e: TimelineEvent, m: MailMember, role: Role | None) -> bool:
    """Whether ``m`` is told of this entry by mail: what their role may read in the room, less their own doings."""
    data = e.data or {}
    if (e.actor_email or "").lower() == m.email or str(data.get("email") or "").lower() == m.email:
        return False  # their own words, and the facts about themselves they were told of directly
    if e.kind == timeline.Kind.INVITE:
        return data.get("outcome") == "email"  # the room was told someone takes part by e-mail; other invitations
        # show as joins when they happen
    return may_read(role or Role.CUSTOMER, e)
