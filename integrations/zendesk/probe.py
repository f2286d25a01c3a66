"""``caseroom check-config --online`` for Zendesk: whom the credentials act as, and the room URL ticket field."""

from __future__ import annotations

from bot.plugins import Verdict
from integrations.crm import CRMError
from integrations.zendesk.client import Connection
from integrations.zendesk.settings import ZendeskSettings

SUBJECT = "zendesk"


def connection(s: ZendeskSettings) -> list[Verdict]:
    conn = Connection(s)
    try:
        me = conn.call("read the current user", lambda z: z.users.me())
    except CRMError as exc:
        return [Verdict(SUBJECT, False, str(exc).splitlines()[0])]
    if getattr(me, "role", None) not in ("agent", "admin"):
        # Zendesk answers an anonymous end-user to a request without valid credentials.
        return [Verdict(SUBJECT, False, f"the credentials act as {me.email or 'an anonymous user'} "
                                        f"({me.role}); CaseRoom needs an agent's API token")]  # fmt: skip
    return [Verdict(SUBJECT, True, f"signed in to {s.url} as {me.name} <{me.email}> ({me.role})"), _field(conn, s)]


def _field(conn: Connection, s: ZendeskSettings) -> Verdict:
    subject = f"{SUBJECT} room URL field"
    if s.room_url_field_id is None:
        return Verdict(subject, False, "ZENDESK_ROOM_URL_FIELD_ID is not set: the URL goes on tickets as an "
                                       "internal note; `caseroom zendesk setup` creates the field and prints its id")
    try:
        field = conn.call("read the ticket field", lambda z: z.ticket_fields(id=s.room_url_field_id))
    except CRMError as exc:
        return Verdict(subject, False, f"ticket field {s.room_url_field_id}: {exc}")
    if not field.active:
        return Verdict(subject, False, f"ticket field {field.id} ({field.title}) is inactive: activate it")
    return Verdict(subject, True, f"ticket field {field.id} ({field.title}, {field.type}) is active")
