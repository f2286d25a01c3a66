"""The in-memory org: records by object type, real id prefixes, derived fields and the API's write rules.

Every write goes through ``create``/``update``/``delete`` so that REST calls, the control API and the Python
helpers all trigger the same side effects (derived fields, autonumbers, Case change notifications).
"""

from __future__ import annotations

import base64
import binascii
import copy
import random
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from caseroom_sandbox.salesforce.schema import CLOSED_STATUSES, OBJECTS, PREFIX_TO_TYPE, Field, SObjectType
from caseroom_sandbox.salesforce.wire import BASE62, SalesforceError, base62, id18, now, same_id, sf_datetime

Record = dict[str, Any]
CaseListener = Callable[[Record, Record | None], None]  # (case after the write, case before or None if new)
MAX_FILE_BYTES = 37_500_000  # a base64 JSON body tops out at 50 MB, i.e. 37.5 MB of file


def not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def _file_type(extension: str) -> str:
    known = {"txt": "TEXT", "pdf": "PDF", "png": "PNG", "jpg": "JPG", "jpeg": "JPEG", "html": "HTML", "zip": "ZIP"}
    return known.get(extension.lower(), "UNKNOWN")


class Org:
    def __init__(self, org_id: str, seed: int | None = None) -> None:
        self.org_id = org_id
        self.lock = threading.RLock()
        self.on_case_change: CaseListener | None = None
        self._rng = random.Random(seed)
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self.records: dict[str, dict[str, Record]] = {name: {} for name in OBJECTS}
            self.blobs: dict[str, bytes] = {}
            # A seeded random start keeps ids reproducible per seed yet distinct between orgs.
            self._counter = self._rng.randrange(62**6)
            self._case_number = 999  # the first case is 00001000
            # The org itself: read-only, one record whose Id is the organization id Outbound Messages carry.
            org = dict.fromkeys(OBJECTS["Organization"].fields)
            org.update(Id=self.org_id, IsDeleted=False, SystemModstamp=sf_datetime(now()), Name="CaseRoom Sandbox",
                       InstanceName="CS1", IsSandbox=True, OrganizationType="Developer Edition")  # fmt: skip
            self.records["Organization"][self.org_id] = org
            self.integration_user_id = ""
            self.integration_user_id = self.create(
                "User", {"Email": "caseroom-integration@sandbox.example", "LastName": "CaseRoom Integration",
                         "TimeZoneSidKey": "GMT"}, system=True)  # fmt: skip

    # -- ids ----------------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        with self.lock:
            self._counter += 1
            return id18(prefix + "5g" + base62(self._counter, 10))

    def type_of(self, record_id: str) -> str | None:
        return PREFIX_TO_TYPE.get(record_id[:3]) if len(record_id) in (15, 18) else None

    def find(self, record_id: str) -> tuple[str, Record] | None:
        name = self.type_of(record_id)
        if name is None:
            return None
        if record_id in self.records[name]:
            return name, self.records[name][record_id]
        for key, record in self.records[name].items():
            if same_id(key, record_id):
                return name, record
        return None

    # -- reads --------------------------------------------------------------------------------------
    def get(self, type_name: str, record_id: str) -> Record:
        with self.lock:
            found = self.find(record_id)
            if found is None or found[0] != type_name:
                raise not_found()
            return copy.deepcopy(found[1])

    def all(self, type_name: str) -> list[Record]:
        with self.lock:
            return [copy.deepcopy(r) for r in self.records[type_name].values()]

    def user_by_email(self, email: str) -> Record | None:
        return next((u for u in self.all("User") if (u["Email"] or "").lower() == email.lower()), None)

    def queue_by_name(self, name: str) -> Record | None:
        return next((g for g in self.all("Group") if g["Type"] == "Queue" and g["Name"] == name), None)

    # -- writes -------------------------------------------------------------------------------------
    def create(self, type_name: str, data: Record, *, system: bool = False, started_at: datetime | None = None) -> str:
        """``started_at``: when the save began, if long before now. Salesforce stamps the audit dates then, and
        the record becomes visible at commit (getUpdated's ``latestDateCovered`` exists for such saves)."""
        t = OBJECTS[type_name]
        values = self._validate(t, data, creating=True, system=system)
        with self.lock:
            missing = [f.name for f in t.fields.values() if f.required and values.get(f.name) in (None, "")]
            if type_name == "FeedItem" and values.get("Type", "TextPost") == "TextPost" and not values.get("Body"):
                missing.append("Body")
            if missing:
                raise SalesforceError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", missing)
            record: Record = dict.fromkeys(t.fields)
            stamp = sf_datetime(started_at or now())
            record.update(Id=self.new_id(t.prefix), IsDeleted=False, SystemModstamp=stamp)
            if "CreatedDate" in t.fields:
                user = self.integration_user_id or None
                record.update(CreatedDate=stamp, LastModifiedDate=stamp, CreatedById=user, LastModifiedById=user)
            self._defaults(type_name, record)
            record.update(values)
            if type_name == "ContentVersion":
                self._store_file(record)
            if type_name == "ContentDocumentLink":
                self._check_link(record)
            self._derive(type_name, record, None)
            self.records[type_name][record["Id"]] = record
            if type_name == "ContentVersion" and record.get("FirstPublishLocationId"):
                link = {"ContentDocumentId": record["ContentDocumentId"], "ShareType": "I",
                        "LinkedEntityId": record["FirstPublishLocationId"], "Visibility": "AllUsers"}  # fmt: skip
                self.create("ContentDocumentLink", link, system=True)
            self._notify(type_name, record, None)
            return str(record["Id"])

    def update(self, type_name: str, record_id: str, data: Record, *, system: bool = False) -> None:
        t = OBJECTS[type_name]
        values = self._validate(t, data, creating=False, system=system)
        with self.lock:
            found = self.find(record_id)
            if found is None or found[0] != type_name:
                raise not_found()
            record = found[1]
            before = copy.deepcopy(record)
            record.update(values)
            stamp = sf_datetime(now())
            record["SystemModstamp"] = stamp
            if "LastModifiedDate" in t.fields:
                record.update(LastModifiedDate=stamp, LastModifiedById=self.integration_user_id)
            self._derive(type_name, record, before)
            self._notify(type_name, record, before)

    def delete(self, type_name: str, record_id: str) -> None:
        with self.lock:
            found = self.find(record_id)
            if found is None or found[0] != type_name:
                raise not_found()
            del self.records[type_name][found[1]["Id"]]
            self.blobs.pop(found[1]["Id"], None)
            key = found[1]["Id"]
            # Children go with their parent, as the org's cascade delete does.
            children = [("CaseComment", "ParentId"), ("FeedItem", "ParentId"),
                        ("ContentDocumentLink", "LinkedEntityId"), ("ContentVersion", "ContentDocumentId"),
                        ("ContentDocumentLink", "ContentDocumentId")]  # fmt: skip
            for child_type, ref in children:
                for child in list(self.records[child_type].values()):
                    if child.get(ref) and same_id(child[ref], key):
                        self.delete(child_type, child["Id"])

    # -- rules --------------------------------------------------------------------------------------
    def _validate(self, t: SObjectType, data: Record, *, creating: bool, system: bool) -> Record:
        values: Record = {}
        for key, raw in data.items():
            if key == "attributes":
                continue
            f = t.field(key)
            if f is None:
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {t.name}")
            if not system and not (f.createable if creating else f.updateable):
                verb = "create" if creating else "update"
                message = (f"Unable to {verb} fields: {f.name}. Please check the security settings of this field "
                           "and verify that it is read/write for your profile or permission set.")  # fmt: skip
                raise SalesforceError(400, "INVALID_FIELD_FOR_INSERT_UPDATE", message, [f.name])
            values[f.name] = self._coerce(t, f, raw)
        return values

    def _coerce(self, t: SObjectType, f: Field, raw: Any) -> Any:
        if raw is None or (raw == "" and f.type != "boolean"):
            return None
        if f.type == "boolean":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            raise SalesforceError(400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean from {raw!r}")
        if f.type == "base64":
            if isinstance(raw, bytes):  # the binary part of a multipart insert: no JSON size cap
                return raw
            if len(str(raw)) * 3 // 4 > MAX_FILE_BYTES:
                raise SalesforceError(400, "STRING_TOO_LONG", f"{f.name}: file too large for a JSON body; "
                                      "use a multipart request", [f.name])  # fmt: skip
            try:
                return base64.b64decode(str(raw), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise SalesforceError(400, "JSON_PARSER_ERROR", f"Illegal base64 value for {f.name}: {exc}") from exc
        value = raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) else str(raw)
        if f.type in ("reference", "id"):
            return self._reference(f, value)
        size = len(value.encode()) if f.in_bytes else len(value)
        if f.length and size > f.length:
            message = f"{f.name}: data value too large: {value[:40]} (max length={f.length})"
            raise SalesforceError(400, "STRING_TOO_LONG", message, [f.name])
        if f.type == "email" and ("@" not in value or " " in value):
            raise SalesforceError(400, "INVALID_EMAIL_ADDRESS", f"{f.name}: invalid email address: {value}", [f.name])
        return value

    def _reference(self, f: Field, value: str) -> str:
        if len(value) not in (15, 18) or any(ch not in BASE62 for ch in value):
            raise SalesforceError(400, "MALFORMED_ID", f"{f.name}: id value of incorrect type: {value}", [f.name])
        found = self.find(value)
        if found is None or found[0] not in f.refs:
            raise SalesforceError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
        return str(found[1]["Id"])

    def _defaults(self, type_name: str, record: Record) -> None:
        if type_name == "Case":
            self._case_number += 1
            record.update(CaseNumber=f"{self._case_number:08d}", Status="New", Priority="Medium",
                          OwnerId=self.integration_user_id)  # fmt: skip
        elif type_name == "User":
            record.update(IsActive=True, TimeZoneSidKey="GMT")
        elif type_name == "Group":
            record.update(Type="Regular")
        elif type_name == "CaseComment":
            record.update(IsPublished=False)
        elif type_name == "FeedItem":
            record.update(Type="TextPost", Visibility="InternalUsers", IsRichText=False)
        elif type_name == "ContentDocumentLink":
            record.update(ShareType="V", Visibility="AllUsers")

    def _derive(self, type_name: str, record: Record, before: Record | None) -> None:
        if type_name == "Case":
            record["IsClosed"] = record.get("Status") in CLOSED_STATUSES
            if not record["IsClosed"]:
                record["ClosedDate"] = None
            elif before is None or not before["IsClosed"]:
                record["ClosedDate"] = record["LastModifiedDate"]
            contact = self.records["Contact"].get(record["ContactId"] or "")
            record["ContactEmail"] = contact["Email"] if contact else None
        elif type_name in ("User", "Contact"):
            record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
            if type_name == "User" and not record.get("Username"):
                record["Username"] = record["Email"]
        elif type_name == "Group" and not record.get("DeveloperName"):
            record["DeveloperName"] = "".join(ch if ch.isalnum() else "_" for ch in record["Name"])

    def _store_file(self, record: Record) -> None:
        data: bytes = record.pop("VersionData")
        path = str(record["PathOnClient"])
        extension = path.rsplit(".", 1)[1] if "." in path else ""
        title = record.get("Title") or path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        record.update(Title=title, ContentSize=len(data), FileExtension=extension or None,
                      FileType=_file_type(extension), IsLatest=True, VersionData=None)  # fmt: skip
        document_id = record.get("ContentDocumentId")
        if document_id:
            siblings = [v for v in self.records["ContentVersion"].values() if v["ContentDocumentId"] == document_id]
            for sibling in siblings:
                sibling["IsLatest"] = False
            record["VersionNumber"] = str(len(siblings) + 1)
            self.update("ContentDocument", document_id, {"Title": title}, system=True)
        else:
            record["VersionNumber"] = "1"
            document_id = self.create("ContentDocument", {"Title": title}, system=True)
            record["ContentDocumentId"] = document_id
        document = self.records["ContentDocument"][document_id]
        document.update(LatestPublishedVersionId=record["Id"], ContentSize=len(data),
                        FileExtension=record["FileExtension"], FileType=record["FileType"])  # fmt: skip
        self.blobs[record["Id"]] = data

    def _check_link(self, record: Record) -> None:
        for link in self.records["ContentDocumentLink"].values():
            if link["ContentDocumentId"] == record["ContentDocumentId"] and same_id(
                link["LinkedEntityId"], record["LinkedEntityId"]
            ):
                message = (f"Document with ID: {record['ContentDocumentId']} is already linked with the entity "
                           f"with ID: {record['LinkedEntityId']}")  # fmt: skip
                raise SalesforceError(400, "DUPLICATE_VALUE", message)

    def _notify(self, type_name: str, record: Record, before: Record | None) -> None:
        if type_name != "Case" or self.on_case_change is None:
            return
        # The deployed Flow's entry criteria: ISNEW() || ISCHANGED(OwnerId) || ISCHANGED(IsClosed).
        if before is None or before["OwnerId"] != record["OwnerId"] or before["IsClosed"] != record["IsClosed"]:
            self.on_case_change(copy.deepcopy(record), before)
