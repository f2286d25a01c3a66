"""The CRM port on Salesforce Service Cloud: read cases, write the room URL, comments, files and digests."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from functools import partial
from typing import Any, cast

from simple_salesforce import Salesforce, SFType, format_soql

from integrations.crm import CaseSnapshot, Person, TransientCRMError, comment_parts
from integrations.filenames import safe_file_name, visible
from integrations.people_cache import PeopleCache
from integrations.salesforce.client import Connection, NotFound

COMMENT_BYTES = 4000  # CaseComment.CommentBody
FEED_CHARS = 10000  # FeedItem.Body
# A base64 JSON body may be 50 MB, i.e. 37.5 MB of file; keep a margin for the JSON around it.
INLINE_FILE_BYTES = 30_000_000
CASE_FIELDS = ("Id", "CaseNumber", "Subject", "Description", "Status", "Priority", "IsClosed", "OwnerId",
               "ContactId", "ContactEmail", "Contact.Name", "LastModifiedDate")  # fmt: skip
USER_PREFIX, QUEUE_PREFIX = "005", "00G"


def sobject(sf: Salesforce, name: str) -> SFType:
    """``sf.Case`` with a type mypy understands (the SDK resolves sObject names dynamically)."""
    return cast(SFType, getattr(sf, name))


def parse_sf_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    # "2026-11-23T09:12:50.000+0000": Python wants a colon in the offset.
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        value = f"{value[:-2]}:{value[-2:]}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _create(name: str, fields: dict[str, Any], sf: Salesforce) -> Any:
    return sobject(sf, name).create(fields)


NAME = "salesforce"  # the CRM its cases record (Case.crm)


class SalesforceCRM:
    comment_bytes = COMMENT_BYTES

    name = NAME

    def __init__(self, conn: Connection, *, room_url_field: str = "Room_URL__c",
                 inline_file_bytes: int = INLINE_FILE_BYTES) -> None:  # fmt: skip
        self.conn = conn
        self.room_url_field = room_url_field
        self.inline_file_bytes = inline_file_bytes
        self._users: PeopleCache[str] = PeopleCache()

    # -- reading -----------------------------------------------------------------------------------
    def read_case(self, crm_id: str) -> CaseSnapshot | None:
        soql = format_soql(f"SELECT {', '.join(CASE_FIELDS)} FROM Case WHERE Id = {{}}", crm_id)  # noqa: S608 (bound)
        rows = self.conn.call("query Case", lambda sf: sf.query(soql))["records"]
        if not rows:
            return None
        return self._snapshot(rows[0])

    def changed_since(self, since: datetime, limit: int = 2000) -> list[tuple[str, datetime]]:
        """Ids and LastModifiedDate of cases changed after ``since``, oldest first (the reconciliation sweep)."""
        stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        soql = (f"SELECT Id, LastModifiedDate FROM Case WHERE LastModifiedDate > {stamp} "  # noqa: S608 (a datetime)
                f"ORDER BY LastModifiedDate ASC LIMIT {int(limit)}")  # fmt: skip
        rows = self.conn.call("query Case changes", lambda sf: list(sf.query_all_iter(soql)))
        found: list[tuple[str, datetime]] = []
        for row in rows:
            modified = parse_sf_datetime(row.get("LastModifiedDate"))
            if modified is not None:
                found.append((str(row["Id"]), modified))
        return found

    def _snapshot(self, row: dict[str, Any]) -> CaseSnapshot:
        owner_id = str(row.get("OwnerId") or "")
        contact = row.get("Contact") or {}
        email = row.get("ContactEmail")
        customer = Person(str(email).lower(), str(contact.get("Name") or "")) if email else None
        base = (self.conn.settings.instance_url or "").rstrip("/")
        return CaseSnapshot(
            crm_id=str(row["Id"]),
            number=str(row["CaseNumber"]),
            subject=str(row.get("Subject") or ""),
            description=str(row.get("Description") or ""),
            status=str(row.get("Status") or ""),
            priority=str(row.get("Priority") or ""),
            is_closed=bool(row.get("IsClosed")),
            customer=customer,
            engineer=self.owner(owner_id),
            owner_id=owner_id,
            modified_at=parse_sf_datetime(row.get("LastModifiedDate")),
            link=f"{base}/lightning/r/Case/{row['Id']}/view" if base else None,
        )

    def owner(self, owner_id: str) -> Person | None:
        """A User owner is the engineer; a Queue (00G) means nobody has picked the case up yet."""
        return self._users.get(owner_id, self._read_user) if owner_id.startswith(USER_PREFIX) else None

    def _read_user(self, owner_id: str) -> Person | None:
        try:
            user = self.conn.call("get User", lambda sf: sobject(sf, "User").get(owner_id))
        except NotFound:
            return None
        email = user.get("Email")
        name, tz = str(user.get("Name") or ""), user.get("TimeZoneSidKey")
        return Person(str(email).lower(), name, tz) if email else None

    def queue_members(self, queue: str) -> list[Person]:
        """Active users of a queue (by Id or DeveloperName), for the shift rota's "on duty" lookup."""
        where = "Id = {}" if queue.startswith(QUEUE_PREFIX) else "DeveloperName = {}"
        groups = self.conn.call("query Group", lambda sf: sf.query(
            format_soql(f"SELECT Id FROM Group WHERE Type = 'Queue' AND {where}", queue)))["records"]  # noqa: S608
        if not groups:
            return []
        members = self.conn.call("query GroupMember", lambda sf: sf.query(format_soql(
            "SELECT UserOrGroupId FROM GroupMember WHERE GroupId = {}", groups[0]["Id"])))["records"]  # fmt: skip
        people = [self.owner(str(m["UserOrGroupId"])) for m in members]
        return [p for p in people if p is not None]

    # -- writing -----------------------------------------------------------------------------------
    def write_room_url(self, crm_id: str, url: str) -> None:
        # Without Sforce-Auto-Assign: FALSE, active assignment rules may hand the case to someone else.
        self.conn.call("update Case", lambda sf: sobject(sf, "Case").update(
            crm_id, {self.room_url_field: url}, headers={"Sforce-Auto-Assign": "FALSE"}))  # fmt: skip

    def add_comment(self, crm_id: str, text: str) -> None:
        # The core hands over parts that fit; a longer text from elsewhere is still split, never truncated.
        for body in comment_parts(text, self.comment_bytes):
            fields = {"ParentId": crm_id, "CommentBody": body, "IsPublished": False}
            self.conn.call("create CaseComment", partial(_create, "CaseComment", fields))

    def post_digest(self, crm_id: str, lines: list[str]) -> None:
        """Several room events as one Chatter post on the case: one API call instead of one per event."""
        body = "\n".join(lines)
        if len(body) > FEED_CHARS:
            body = body[: FEED_CHARS - 40].rsplit("\n", 1)[0] + "\n… (more in the room's transcript)"
        self.conn.call("create FeedItem", lambda sf: sobject(sf, "FeedItem").create(
            {"ParentId": crm_id, "Body": body, "Type": "TextPost"}))  # fmt: skip

    def attach_file(self, crm_id: str, name: str, content: bytes, mime: str) -> str:
        """A ContentVersion published to the case (so the case's Files list and search find it), under a safe name;
        a name that had to change is kept, made visible, in the description."""
        safe = safe_file_name(name)
        described = f"Shared in the case room ({mime})"
        if safe != name:
            described += f"; original name: {visible(name)}"
        fields = {"Title": safe.rsplit(".", 1)[0] or safe, "PathOnClient": safe, "FirstPublishLocationId": crm_id,
                  "Description": described}  # fmt: skip
        if len(content) <= self.inline_file_bytes:
            fields["VersionData"] = base64.b64encode(content).decode()
            result = self.conn.call("create ContentVersion", lambda sf: sobject(sf, "ContentVersion").create(fields))
        else:
            result = self.conn.call("create ContentVersion (multipart)",
                                    lambda sf: self._multipart(sf, fields, safe, content, mime))  # fmt: skip
        if not isinstance(result, dict) or not result.get("id"):
            raise TransientCRMError(f"Salesforce create ContentVersion: unexpected answer {result!r}"[:300])
        return str(result["id"])

    @staticmethod
    def _multipart(sf: Salesforce, fields: dict[str, Any], name: str, content: bytes, mime: str) -> Any:
        # simple-salesforce has no multipart insert; its session, auth header and error mapping still apply.
        url = f"{sf.base_url}sobjects/ContentVersion/"
        files: dict[str, tuple[str, str | bytes, str]] = {
            "entity_content": ("", json.dumps(fields), "application/json"),
            "VersionData": (name, content, mime or "application/octet-stream"),
        }
        resp = sf.session.post(url, files=files, headers={"Authorization": f"Bearer {sf.session_id}"})
        if resp.status_code >= 300:
            from simple_salesforce.util import exception_handler

            exception_handler(resp, "ContentVersion")
        return resp.json()
