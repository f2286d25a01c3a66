"""``/services/data/v{version}/...``: the REST resources CaseRoom uses, answering as Salesforce does.

Auth, API usage counting, the fault knobs and version checks happen in the app's middleware (see
``__init__``); handlers here only read and write the org.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.salesforce.query import execute
from caseroom_sandbox.salesforce.schema import OBJECTS, SObjectType, describe, object_type
from caseroom_sandbox.salesforce.soql import parse
from caseroom_sandbox.salesforce.state import Record, not_found
from caseroom_sandbox.salesforce.view import rest_record
from caseroom_sandbox.salesforce.wire import SalesforceError, json_response

if TYPE_CHECKING:
    from caseroom_sandbox.salesforce import SalesforceEmulator

OPEN_CURSORS = 50  # Salesforce keeps a handful of open query locators per user and expires the oldest
VERBS = {"GET": "get", "POST": "create", "PATCH": "patch", "DELETE": "delete"}


def method_name(http_method: str, path: str) -> str:
    """``PATCH /services/data/v59.0/sobjects/Case/500...`` -> ``sobjects.Case.patch`` (rate-limit key)."""
    parts = [p for p in path.split("/") if p][3:]
    if not parts:
        return "resources"
    if parts[0] in ("query", "queryAll"):
        return "query"
    if parts[0] != "sobjects":
        return parts[0]
    if len(parts) == 1:
        return "sobjects.list"
    t = object_type(parts[1])
    name = t.name if t else parts[1]
    if len(parts) == 2:
        return f"sobjects.{name}.{'create' if http_method == 'POST' else 'metadata'}"
    if parts[2] == "describe":
        return f"sobjects.{name}.describe"
    if len(parts) > 3:
        return f"sobjects.{name}.{parts[3].lower()}"
    return f"sobjects.{name}.{VERBS.get(http_method, http_method.lower())}"


async def json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"Unexpected character in the request body: {exc}") from exc
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from a non-object")
    return body


async def multipart_insert(request: Request, t: SObjectType) -> dict[str, Any]:
    """"Insert or Update Blob Data": a JSON part ``entity_content`` plus the binary part named after the field."""
    if t.name != "ContentVersion":
        raise SalesforceError(400, "INVALID_MULTIPART_REQUEST", "the emulator takes multipart only for ContentVersion")
    form = await request.form(max_part_size=2**31)
    meta, blob = form.get("entity_content"), form.get("VersionData")
    if meta is None or blob is None or isinstance(blob, str):
        raise SalesforceError(400, "INVALID_MULTIPART_REQUEST", "expected entity_content and a binary VersionData part")
    raw = await meta.read() if not isinstance(meta, str) else meta.encode()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"entity_content is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from a non-object")
    body["VersionData"] = await blob.read()
    return body


def sobject(request: Request) -> SObjectType:
    t = object_type(request.path_params["sobject"])
    if t is None:
        raise not_found()
    return t


class Rest:
    def __init__(self, emu: SalesforceEmulator) -> None:
        self.emu = emu
        self.org = emu.org
        self.cursors: OrderedDict[str, tuple[int, list[Record]]] = OrderedDict()

    @staticmethod
    def _both(path: str) -> list[str]:
        # simple-salesforce sends some resources with a trailing slash and some without.
        return [path, path + "/"]

    def routes(self) -> list[Route]:
        both = self._both
        v = "/services/data/v{version}"
        table: list[tuple[list[str], Any, list[str]]] = [
            (["/services/data", "/services/data/"], self.versions, ["GET"]),
            (both(v), self.resources, ["GET"]),
            (both(f"{v}/limits"), self.limits, ["GET"]),
            (both(f"{v}/sobjects"), self.describe_global, ["GET"]),
            (both(f"{v}/sobjects/{{sobject}}"), self.collection, ["GET", "POST"]),
            (both(f"{v}/sobjects/{{sobject}}/describe"), self.describe, ["GET"]),
            ([f"{v}/sobjects/ContentVersion/{{record_id}}/VersionData"], self.version_data, ["GET"]),
            ([f"{v}/sobjects/{{sobject}}/{{record_id}}"], self.record, ["GET", "PATCH", "DELETE"]),
            (both(f"{v}/query") + both(f"{v}/queryAll"), self.query, ["GET"]),
            ([f"{v}/query/{{locator}}", f"{v}/queryAll/{{locator}}"], self.query_more, ["GET"]),
        ]
        return [Route(path, handler, methods=methods) for paths, handler, methods in table for path in paths]

    def version(self, request: Request) -> str:
        return str(request.path_params.get("version", self.emu.api_version))

    # -- discovery ----------------------------------------------------------------------------------
    async def versions(self, request: Request) -> Response:
        return json_response(self.emu.versions())

    async def resources(self, request: Request) -> Response:
        base = f"/services/data/v{self.version(request)}"
        names = ("sobjects", "query", "queryAll", "limits")
        return json_response({name: f"{base}/{name}" for name in names})

    async def limits(self, request: Request) -> Response:
        daily = self.emu.knobs.api_daily_limit
        return json_response({"DailyApiRequests": {"Max": daily, "Remaining": max(0, daily - self.emu.api_usage)}})

    async def describe_global(self, request: Request) -> Response:
        version = self.version(request)
        sobjects = [{k: v for k, v in describe(t, version).items() if k != "fields"} for t in OBJECTS.values()]
        return json_response({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects})

    async def describe(self, request: Request) -> Response:
        return json_response(describe(sobject(request), self.version(request)))

    # -- records ------------------------------------------------------------------------------------
    async def collection(self, request: Request) -> Response:
        t = sobject(request)
        if request.method == "GET":
            summary = {k: v for k, v in describe(t, self.version(request)).items() if k != "fields"}
            return json_response({"objectDescribe": summary, "recentItems": []})
        if t.name in ("ContentDocument", "Organization"):
            raise SalesforceError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {t.name}")
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            body = await multipart_insert(request, t)
        else:
            body = await json_object(request)
        if t.name == "Case":
            body = self._assignment_rules(request, body)
        record_id = self.org.create(t.name, body)
        return json_response({"id": record_id, "success": True, "errors": []}, status=201)

    async def record(self, request: Request) -> Response:
        t = sobject(request)
        record_id = request.path_params["record_id"]
        if request.method == "GET":
            record = self.org.get(t.name, record_id)
            fields = request.query_params.get("fields")
            wanted = None
            if fields:
                wanted = []
                for name in fields.split(","):
                    f = t.field(name.strip())
                    if f is None:
                        raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{t.name}'.")
                    wanted.append(f.name)
            return json_response(rest_record(t.name, record, self.version(request), wanted))
        if request.method == "DELETE":
            if t.name == "Organization":
                raise SalesforceError(400, "INVALID_TYPE_FOR_OPERATION", "entity type cannot be deleted: Organization")
            self.org.delete(t.name, record_id)
            return Response(status_code=204)
        body = await json_object(request)
        if t.name == "Case":
            body = self._assignment_rules(request, body)
        self.org.update(t.name, record_id, body)
        return Response(status_code=204)

    def _assignment_rules(self, request: Request, body: Record) -> Record:
        """Active assignment rules run on every Case save unless ``Sforce-Auto-Assign: FALSE`` is sent.

        This models the trap the product must avoid: a write-back without the header silently moves the case
        to whatever owner the rule picks (knob ``assignment_rule_owner``).
        """
        owner = self.emu.knobs.assignment_rule_owner
        if not owner or request.headers.get("sforce-auto-assign", "TRUE").strip().upper() == "FALSE":
            return body
        return {k: v for k, v in body.items() if k.lower() != "ownerid"} | {"OwnerId": owner}

    async def version_data(self, request: Request) -> Response:
        record = self.org.get("ContentVersion", request.path_params["record_id"])
        with self.org.lock:
            data = self.org.blobs.get(record["Id"], b"")
        return Response(data, media_type="application/octet-stream")

    # -- SOQL ---------------------------------------------------------------------------------------
    async def query(self, request: Request) -> Response:
        text = request.query_params.get("q")
        if not text:
            raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
        version = self.version(request)
        total, rows = execute(self.org, parse(text), version)
        size = self.emu.page_size
        options = request.headers.get("sforce-query-options", "")
        wanted = options.partition("batchSize=")[2].split(";")[0].strip()
        if wanted.isdigit():
            size = max(200, min(2000, int(wanted)))
        return json_response(self._page(version, self.org.new_id("01g"), total, rows, 0, size))

    async def query_more(self, request: Request) -> Response:
        locator, _, offset = request.path_params["locator"].rpartition("-")
        cursor = self.cursors.get(locator)
        if cursor is None or not offset.isdigit() or int(offset) > len(cursor[1]):
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        total, rows = cursor
        size = self.emu.page_size
        return json_response(self._page(self.version(request), locator, total, rows, int(offset), size))

    def _page(self, version: str, locator: str, total: int, rows: list[Record], start: int, size: int) -> Record:
        end = start + size
        page: Record = {"totalSize": total, "done": end >= len(rows), "records": rows[start:end]}
        if end < len(rows):
            self.cursors[locator] = (total, rows)
            while len(self.cursors) > OPEN_CURSORS:
                self.cursors.popitem(last=False)
            page["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        return page
