"""How records look on the REST wire: ``attributes`` first, canonical field names, relationships nested."""

from __future__ import annotations

from typing import Any

from caseroom_sandbox.salesforce.schema import NAME_FIELDS, OBJECTS
from caseroom_sandbox.salesforce.state import Org, Record


def attributes(type_name: str, record_id: str, version: str, *, shown_as: str | None = None) -> dict[str, str]:
    return {"type": shown_as or type_name, "url": f"/services/data/v{version}/sobjects/{type_name}/{record_id}"}


def rest_record(type_name: str, record: Record, version: str, fields: list[str] | None = None) -> Record:
    out: Record = {"attributes": attributes(type_name, record["Id"], version)}
    for name in fields or list(OBJECTS[type_name].fields):
        out[name] = record.get(name)
    if type_name == "ContentVersion" and "VersionData" in out:
        # The bytes are a separate resource; the record carries its relative URL, as Salesforce does.
        out["VersionData"] = f"/services/data/v{version}/sobjects/ContentVersion/{record['Id']}/VersionData"
    return out


def name_record(org: Org, record_id: str) -> tuple[str, Record] | None:
    """The ``Name`` pseudo-object behind polymorphic lookups such as ``Case.Owner``."""
    found = org.find(record_id)
    if found is None:
        return None
    type_name, target = found
    is_queue = type_name == "Group" and target.get("Type") == "Queue"
    view = {
        "Id": target["Id"],
        "Name": target.get("Name"),
        "Email": target.get("Email"),
        "Type": "Queue" if is_queue else type_name,
        "IsActive": target.get("IsActive", True),
    }
    return type_name, {k: view[k] for k in NAME_FIELDS}


def related(org: Org, type_name: str, record: Record, relationship: str) -> tuple[str, str, Record] | None:
    """Follow ``relationship`` (e.g. ``Owner``) from ``record``: (real type, type shown, target record)."""
    f = OBJECTS[type_name].relationship(relationship)
    target_id: Any = record.get(f.name) if f else None
    if f is None or not target_id:
        return None
    if f.polymorphic:
        found = name_record(org, str(target_id))
        return (found[0], "Name", found[1]) if found else None
    raw = org.find(str(target_id))
    return (raw[0], raw[0], raw[1]) if raw else None
