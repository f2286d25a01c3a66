"""The slice of the org's schema the emulator knows: objects, key prefixes, fields and their rules.

Only what CaseRoom reads or writes is modelled, but each field carries the attributes the API enforces
(createable, updateable, length in characters or bytes, reference targets) so that a request the real org
would refuse is refused here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Polymorphic lookups (Case.Owner) answer with the "Name" pseudo-object in SOQL relationship queries.
NAME_FIELDS = ("Id", "Name", "Email", "Type", "IsActive")
CLOSED_STATUSES = frozenset({"Closed"})


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # id, string, textarea, boolean, datetime, reference, picklist, url, email, base64
    length: int = 0
    createable: bool = True
    updateable: bool = True
    required: bool = False
    in_bytes: bool = False  # CaseComment.CommentBody is limited in bytes, not characters
    refs: tuple[str, ...] = ()
    relationship: str | None = None

    @property
    def polymorphic(self) -> bool:
        return len(self.refs) > 1


@dataclass(frozen=True)
class SObjectType:
    name: str
    prefix: str
    fields: dict[str, Field] = field(default_factory=dict)

    def field(self, name: str) -> Field | None:
        # API names are case-insensitive on the wire; answers use the canonical spelling.
        for candidate in self.fields.values():
            if candidate.name.lower() == name.lower():
                return candidate
        return None

    def relationship(self, name: str) -> Field | None:
        for candidate in self.fields.values():
            if candidate.relationship and candidate.relationship.lower() == name.lower():
                return candidate
        return None


def _ro(name: str, type_: str = "string", **kw: object) -> Field:
    return Field(name, type_, createable=False, updateable=False, **kw)  # type: ignore[arg-type]


def _audit() -> list[Field]:
    return [
        _ro("Id", "id"),
        _ro("IsDeleted", "boolean"),
        _ro("CreatedDate", "datetime"),
        _ro("CreatedById", "reference", refs=("User",), relationship="CreatedBy"),
        _ro("LastModifiedDate", "datetime"),
        _ro("LastModifiedById", "reference", refs=("User",), relationship="LastModifiedBy"),
        _ro("SystemModstamp", "datetime"),
    ]


def _type(name: str, prefix: str, fields: list[Field], audit: bool = True) -> SObjectType:
    base = _audit() if audit else [_ro("Id", "id"), _ro("IsDeleted", "boolean"), _ro("SystemModstamp", "datetime")]
    return SObjectType(name, prefix, {f.name: f for f in base + fields})


OBJECTS: dict[str, SObjectType] = {
    t.name: t
    for t in (
        _type("Case", "500", [
            _ro("CaseNumber", length=30),
            Field("Subject", "string", 255),
            Field("Description", "textarea", 32000),
            Field("Status", "picklist", 255),
            _ro("IsClosed", "boolean"),
            _ro("ClosedDate", "datetime"),
            Field("Priority", "picklist", 255),
            Field("Origin", "picklist", 255),
            Field("OwnerId", "reference", refs=("User", "Group"), relationship="Owner"),
            Field("ContactId", "reference", refs=("Contact",), relationship="Contact"),
            _ro("ContactEmail", "email", length=80),
            Field("AccountId", "reference", refs=("Account",), relationship="Account"),
            Field("Room_URL__c", "url", 255),
        ]),
        _type("User", "005", [
            Field("Username", "string", 80),
            Field("Email", "email", 80, required=True),
            Field("FirstName", "string", 40),
            Field("LastName", "string", 80, required=True),
            _ro("Name", length=121),
            Field("TimeZoneSidKey", "picklist", 40),
            Field("IsActive", "boolean"),
        ]),
        _type("Group", "00G", [
            Field("Name", "string", 40, required=True),
            Field("DeveloperName", "string", 80),
            Field("Type", "picklist", 40, updateable=False),
            Field("Email", "email", 255),
        ]),
        _type("Organization", "00D", [
            _ro("Name", length=80),
            _ro("InstanceName", length=5),
            _ro("IsSandbox", "boolean"),
            _ro("OrganizationType", "picklist", length=40),
        ]),
        _type("Account", "001", [Field("Name", "string", 255, required=True)]),
        _type("Contact", "003", [
            Field("FirstName", "string", 40),
            Field("LastName", "string", 80, required=True),
            _ro("Name", length=121),
            Field("Email", "email", 80),
            Field("AccountId", "reference", refs=("Account",), relationship="Account"),
        ]),
        _type("CaseComment", "00a", [
            Field("ParentId", "reference", refs=("Case",), relationship="Parent", required=True, updateable=False),
            Field("CommentBody", "textarea", 4000, in_bytes=True),
            Field("IsPublished", "boolean"),
        ]),
        _type("FeedItem", "0D5", [
            Field("ParentId", "reference", refs=("Case", "User"), relationship="Parent", required=True,
                  updateable=False),
            Field("Body", "textarea", 10000),
            Field("Type", "picklist", 40, updateable=False),
            Field("Title", "string", 255),
            Field("LinkUrl", "url", 1000),
            Field("IsRichText", "boolean"),
            Field("Visibility", "picklist", 40),
        ]),
        _type("ContentVersion", "068", [
            Field("Title", "string", 255),
            Field("PathOnClient", "string", 500, required=True, updateable=False),
            Field("VersionData", "base64", updateable=False, required=True),
            Field("FirstPublishLocationId", "reference", refs=("Case", "User"), updateable=False),
            Field("ContentDocumentId", "reference", refs=("ContentDocument",), relationship="ContentDocument",
                  updateable=False),
            Field("Description", "textarea", 1000),
            _ro("ContentSize", "int"),
            _ro("FileExtension", length=40),
            _ro("FileType", length=20),
            _ro("IsLatest", "boolean"),
            _ro("VersionNumber", length=20),
        ]),
        _type("ContentDocument", "069", [
            Field("Title", "string", 255),
            _ro("LatestPublishedVersionId", "reference", refs=("ContentVersion",)),
            _ro("ContentSize", "int"),
            _ro("FileExtension", length=40),
            _ro("FileType", length=20),
        ]),
        _type("ContentDocumentLink", "06A", [
            Field("ContentDocumentId", "reference", refs=("ContentDocument",), relationship="ContentDocument",
                  required=True, updateable=False),
            Field("LinkedEntityId", "reference", refs=("Case", "User"), relationship="LinkedEntity",
                  required=True, updateable=False),
            Field("ShareType", "picklist", 40),
            Field("Visibility", "picklist", 40),
        ], audit=False),
    )
}  # fmt: skip

PREFIX_TO_TYPE = {t.prefix: t.name for t in OBJECTS.values()}


def object_type(name: str) -> SObjectType | None:
    for candidate in OBJECTS.values():
        if candidate.name.lower() == name.lower():
            return candidate
    return None


def describe(t: SObjectType, version: str) -> dict[str, object]:
    base = f"/services/data/v{version}/sobjects/{t.name}"
    return {
        "name": t.name,
        "label": t.name,
        "keyPrefix": t.prefix,
        "custom": False,
        "createable": True,
        "updateable": True,
        "queryable": True,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        "fields": [
            {
                "name": f.name,
                "type": f.type,
                "length": f.length,
                "byteLength": f.length * (1 if f.in_bytes else 3),
                "createable": f.createable,
                "updateable": f.updateable,
                "nillable": not f.required and f.type != "boolean" and f.name != "Id",
                "custom": f.name.endswith("__c"),
                "referenceTo": list(f.refs),
                "relationshipName": f.relationship,
                "polymorphicForeignKey": f.polymorphic,
            }
            for f in t.fields.values()
        ],
    }
