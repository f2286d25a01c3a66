"""``caseroom check-config --online`` for Salesforce: log in as configured, then check the two things a wrong
value breaks silently: the organization id (Outbound Messages from any other org are refused) and the Case field
that holds the room URL."""

from __future__ import annotations

from typing import Any

from bot.plugins import Verdict
from integrations.crm import CRMError
from integrations.salesforce import ids
from integrations.salesforce.client import Connection
from integrations.salesforce.settings import SalesforceSettings

SUBJECT = "salesforce"


def connection(s: SalesforceSettings) -> list[Verdict]:
    conn = Connection(s)
    try:
        org = conn.call("read the organization", lambda sf: sf.query("SELECT Id, Name FROM Organization"))
        case = conn.call("describe Case", lambda sf: sf.restful("sobjects/Case/describe"))
    except CRMError as exc:
        return [Verdict(SUBJECT, False, str(exc).splitlines()[0])]
    return [_org(s, org), _room_url_field(s, case or {})]


def _org(s: SalesforceSettings, answer: dict[str, Any]) -> Verdict:
    [record] = answer["records"]
    if not ids.same_record(str(record["Id"]), s.org_id or ""):
        return Verdict(f"{SUBJECT} organization", False,
                       f"the credentials log in to {record['Name']} ({record['Id']}), but SALESFORCE_ORG_ID is "
                       f"{s.org_id}: its Outbound Messages would all be refused")  # fmt: skip
    return Verdict(f"{SUBJECT} organization", True, f"logged in to {record['Name']} ({record['Id']}) at "
                                                    f"{s.instance_url}")  # fmt: skip


def _room_url_field(s: SalesforceSettings, describe: dict[str, Any]) -> Verdict:
    subject = f"{SUBJECT} Case.{s.room_url_field}"
    fields = {f["name"].lower(): f for f in describe.get("fields", [])}
    found = fields.get(s.room_url_field.lower())
    if found is None:
        return Verdict(subject, False, f"Case has no field {s.room_url_field} (SALESFORCE_ROOM_URL_FIELD) visible to "
                                       "this user: create it (type URL) and grant the integration user edit access")
    if not found.get("updateable"):
        return Verdict(subject, False, f"the integration user cannot edit Case.{found['name']}: grant it edit access")
    return Verdict(subject, True, f"Case.{found['name']} ({found.get('type')}, {found.get('length')}) is writable")
