"""Contract tests of the Salesforce emulator, driven through the real ``simple-salesforce`` over real HTTPS."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from caseroom_sandbox.salesforce import SalesforceEmulator
from caseroom_sandbox.salesforce.outbound import acknowledged
from caseroom_sandbox.server import ServerThread
from defusedxml.ElementTree import fromstring
from fastapi import FastAPI, Request, Response
from simple_salesforce import Salesforce, format_soql
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

ORG = "00D000000000001EAA"
SF_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
ACK = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
       '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
       "</notificationsResponse></soapenv:Body></soapenv:Envelope>")  # fmt: skip
NS = {"o": "http://soap.sforce.com/2005/09/outbound", "sf": "urn:sobject.enterprise.soap.sforce.com"}


class Receiver:
    """An Outbound Message endpoint: answers 500 to its first ``fail_next`` calls, then acknowledges."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: list[str] = []
        self.fail_next = 0
        self.app = FastAPI()
        self.app.post("/sf")(self.hook)

    async def hook(self, request: Request) -> Response:
        body = (await request.body()).decode()
        with self.lock:
            self.bodies.append(body)
            failing, self.fail_next = self.fail_next > 0, max(0, self.fail_next - 1)
        assert request.headers["content-type"] == "text/xml; charset=utf-8"
        assert request.headers["soapaction"] == '""'
        return Response("boom", status_code=500) if failing else Response(ACK, media_type="text/xml")

    def notifications(self) -> list[dict[str, str]]:
        out = []
        with self.lock:
            bodies = list(self.bodies)
        for body in bodies:
            root = fromstring(body.encode())
            envelope = root.find(".//o:notifications", NS)
            assert envelope is not None
            for n in envelope.findall("o:Notification", NS):
                fields = {el.tag.split("}")[1]: el.text or "" for el in n.find("o:sObject", NS) or []}
                org = envelope.findtext("o:OrganizationId", namespaces=NS)
                out.append({"id": n.findtext("o:Id", namespaces=NS) or "", "org": org or ""} | fields)
        return out


@pytest.fixture(scope="module")
def emu() -> Iterator[SalesforceEmulator]:
    emulator = SalesforceEmulator(org_id=ORG, seed=3, retry_base_s=0.05, page_size=3)
    emulator.start()
    yield emulator
    emulator.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    with ServerThread(rec.app) as server:
        yield rec, f"{server.url}/sf"


@pytest.fixture(autouse=True)
def fresh(emu: SalesforceEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets these variables override session.verify; CI images often set them.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    emu.reset()
    emu.set_outbound_url(None)


def client(emu: SalesforceEmulator, token: str | None = None) -> Salesforce:
    session = requests.Session()
    session.verify = emu.tls.ca_path
    assert emu.server is not None
    return Salesforce(instance_url=emu.server.url, session_id=token or emu.access_token, session=session,
                      version="59.0")  # fmt: skip


@pytest.fixture
def sf(emu: SalesforceEmulator) -> Salesforce:
    return client(emu)


@pytest.fixture
def case(emu: SalesforceEmulator) -> dict[str, Any]:
    owner = emu.add_user("ana@support.example", "Ana Lima")
    return emu.open_case("Printer on fire", "It smokes", "bo@customer.example", "Bo Berg", owner)


def control(emu: SalesforceEmulator, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    assert emu.server is not None
    response = requests.request(method, f"{emu.server.url}/_sandbox/{path}", json=body, verify=emu.tls.ca_path)
    assert response.status_code < 300, response.text
    return response.json()


def test_real_tls_refuses_clients_without_the_ca(emu: SalesforceEmulator) -> None:
    assert emu.server is not None and emu.server.url.startswith("https://")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{emu.server.url}/services/data/", timeout=5)
    versions = requests.get(f"{emu.server.url}/services/data/", verify=emu.tls.bundle_path, timeout=5).json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions


def test_case_get_has_salesforce_shape(sf: Salesforce, case: dict[str, Any]) -> None:
    got = sf.Case.get(case["Id"])
    assert got["attributes"] == {"type": "Case", "url": f"/services/data/v59.0/sobjects/Case/{case['Id']}"}
    assert got["Id"].startswith("500") and len(got["Id"]) == 18 and got["CaseNumber"] == "00001000"
    assert (got["Status"], got["IsClosed"], got["Priority"]) == ("New", False, "Medium")
    assert got["ContactEmail"] == "bo@customer.example" and got["OwnerId"].startswith("005")
    assert SF_TIME.match(got["LastModifiedDate"]) and got["Room_URL__c"] is None
    assert sf.Case.get(case["Id"][:15])["Id"] == case["Id"]  # 15-character ids work too


def test_update_persists_and_auto_assign_header_avoids_the_trap(
    emu: SalesforceEmulator, sf: Salesforce, case: dict[str, Any]
) -> None:
    queue = emu.add_queue("EMEA Tier 2")
    emu.set_knobs(assignment_rule_owner=queue)
    status = sf.Case.update(case["Id"], {"Room_URL__c": "https://rooms.example/1"},
                            headers={"Sforce-Auto-Assign": "FALSE"})  # fmt: skip
    assert status == 204
    got = sf.Case.get(case["Id"])
    assert got["Room_URL__c"] == "https://rooms.example/1" and got["OwnerId"] == case["OwnerId"]
    sf.Case.update(case["Id"], {"Room_URL__c": "https://rooms.example/2"})
    assert sf.Case.get(case["Id"])["OwnerId"] == queue  # assignment rules moved the case


def test_case_comment_and_feed_item(sf: Salesforce, case: dict[str, Any]) -> None:
    created = sf.CaseComment.create({"ParentId": case["Id"], "CommentBody": "Room opened", "IsPublished": False})
    assert created["success"] is True and created["errors"] == [] and created["id"].startswith("00a")
    with pytest.raises(SalesforceMalformedRequest) as too_long:
        sf.CaseComment.create({"ParentId": case["Id"], "CommentBody": "€" * 1400})  # 4200 bytes, 1400 chars
    assert too_long.value.content[0]["errorCode"] == "STRING_TOO_LONG"
    feed = sf.FeedItem.create({"ParentId": case["Id"], "Body": "Transcript attached", "Type": "TextPost"})
    assert feed["id"].startswith("0D5")
    with pytest.raises(SalesforceMalformedRequest):
        sf.FeedItem.create({"ParentId": case["Id"], "Body": "x" * 10001})
    assert sf.FeedItem.get(feed["id"])["Body"] == "Transcript attached"


def test_content_version_links_the_file_to_the_case(sf: Salesforce, case: dict[str, Any]) -> None:
    data = b"transcript\n" * 100
    created = sf.ContentVersion.create({"Title": "Transcript", "PathOnClient": "transcript.txt",
                                        "VersionData": base64.b64encode(data).decode(),
                                        "FirstPublishLocationId": case["Id"]})  # fmt: skip
    version = sf.ContentVersion.get(created["id"])
    assert version["ContentSize"] == len(data) and version["ContentDocumentId"].startswith("069")
    soql = format_soql("SELECT Id, ContentDocumentId FROM ContentDocumentLink WHERE LinkedEntityId = {}", case["Id"])
    links = sf.query(soql)
    assert links["totalSize"] == 1 and links["records"][0]["ContentDocumentId"] == version["ContentDocumentId"]
    blob = sf.session.get(f"https://{sf.sf_instance}{version['VersionData']}", headers=sf.headers)
    assert blob.content == data
    with pytest.raises(SalesforceMalformedRequest):  # the real org insists on a filter by id
        sf.query("SELECT Id FROM ContentDocumentLink")


def test_query_pages_follow_next_records_url(emu: SalesforceEmulator, sf: Salesforce) -> None:
    for i in range(8):
        emu.open_case(f"Case {i}", "", f"c{i}@customer.example", "C", None)
    first = sf.query("SELECT Id, CaseNumber FROM Case ORDER BY CaseNumber")
    assert first["totalSize"] == 8 and first["done"] is False and len(first["records"]) == 3
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert [r["CaseNumber"] for r in second["records"]] == ["00001003", "00001004", "00001005"]
    everything = sf.query_all("SELECT Id, CaseNumber FROM Case WHERE Status != null ORDER BY CaseNumber DESC")
    assert everything["done"] and [r["CaseNumber"] for r in everything["records"]][:2] == ["00001007", "00001006"]
    assert len(everything["records"]) == 8
    recent = sf.query("SELECT COUNT() FROM Case WHERE LastModifiedDate > 2020-01-01T00:00:00Z")
    assert recent["totalSize"] == 8


def test_soql_escapes_relationships_and_refusals(emu: SalesforceEmulator, sf: Salesforce, case: dict[str, Any]) -> None:
    tricky = "O'Brien's \"printer\" \\ again"
    emu.open_case(tricky, "", "ob@customer.example", "Pat O'Brien", None)
    found = sf.query(format_soql("SELECT Id, Subject FROM Case WHERE Subject = {} AND IsClosed = false", tricky))
    assert [r["Subject"] for r in found["records"]] == [tricky]
    rows = sf.query(format_soql("SELECT Owner.Email, Owner.Name FROM Case WHERE Id IN {}", [case["Id"]]))
    assert rows["records"][0]["Owner"]["Email"] == "ana@support.example"
    assert rows["records"][0]["Owner"]["attributes"]["type"] == "Name"
    for bad in (
        "SELECT FROM Case",
        "SELECT Id FROM Case WHERE",
        "SELECT Id FROM Case WHERE Subject = 'x",
        "SELECT Id FROM Case WHERE LastModifiedDate > '2020-01-01T00:00:00Z'",
        "SELECT Nope FROM Case",
    ):
        with pytest.raises(SalesforceMalformedRequest):
            sf.query(bad)


def test_user_lookup_by_owner_id(sf: Salesforce, case: dict[str, Any]) -> None:
    user = sf.User.get(case["OwnerId"])
    assert (user["Email"], user["Name"], user["TimeZoneSidKey"], user["IsActive"]) == (
        "ana@support.example", "Ana Lima", "Europe/Amsterdam", True)  # fmt: skip
    rows = sf.query(format_soql("SELECT Email, TimeZoneSidKey FROM User WHERE Id = {}", case["OwnerId"]))
    assert rows["records"][0]["Email"] == "ana@support.example"


def test_the_organization_is_one_read_only_record_with_the_org_id(emu: SalesforceEmulator, sf: Salesforce) -> None:
    [org] = sf.query("SELECT Id, Name, IsSandbox FROM Organization")["records"]
    assert (org["Id"], org["Name"], org["IsSandbox"]) == (emu.org_id, "CaseRoom Sandbox", True)
    assert sf.Organization.get(emu.org_id)["Id"] == emu.org_id
    with pytest.raises(SalesforceMalformedRequest) as inserted:
        sf.Organization.create({"Name": "Other"})
    with pytest.raises(SalesforceMalformedRequest) as deleted:
        sf.Organization.delete(emu.org_id)
    for refused in (inserted, deleted):
        assert refused.value.content[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Organization.update(emu.org_id, {"Name": "Renamed"})
    assert read_only.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.query("SELECT Name FROM Organization")["records"][0]["Name"] == "CaseRoom Sandbox"


def test_errors_map_to_sdk_exceptions(emu: SalesforceEmulator, sf: Salesforce, case: dict[str, Any]) -> None:
    with pytest.raises(SalesforceExpiredSession):
        client(emu, token="not-a-session").Case.get(case["Id"])
    with pytest.raises(SalesforceResourceNotFound):
        sf.Case.get("500000000000000AAA")
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.Case.update(case["Id"], {"NoSuchField__c": 1})
    assert unknown.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Case.update(case["Id"], {"CaseNumber": "1"})
    assert read_only.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert sf.Case.delete(case["Id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Case.get(case["Id"])


def test_limit_info_rate_limits_and_server_errors(
    emu: SalesforceEmulator, sf: Salesforce, case: dict[str, Any]
) -> None:
    sf.query("SELECT Id FROM Case")
    used = sf.api_usage["api-usage"].used
    sf.Case.get(case["Id"])
    sf.query("SELECT Id FROM Case")
    assert sf.api_usage["api-usage"] == (used + 2, 15000)
    emu.set_knobs(rate_limits={"sobjects.CaseComment.create": {"limit": 1, "per_seconds": 60, "retry_after": 7}})
    sf.CaseComment.create({"ParentId": case["Id"], "CommentBody": "one"})
    with pytest.raises(SalesforceRefusedRequest) as limited:
        sf.CaseComment.create({"ParentId": case["Id"], "CommentBody": "two"})
    assert limited.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    raw = sf.session.post(f"{sf.base_url}sobjects/CaseComment/", headers=sf.headers, json={"ParentId": case["Id"]})
    assert raw.status_code == 403 and raw.headers["Retry-After"] == "7" and "Sforce-Limit-Info" in raw.headers
    emu.set_knobs(error_rate=1.0)
    with pytest.raises(SalesforceGeneralError) as failed:
        sf.Case.get(case["Id"])
    assert failed.value.status == 503 and failed.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"


def test_control_api_and_isolation(emu: SalesforceEmulator, sf: Salesforce) -> None:
    control(emu, "POST", "users", {"email": "kai@support.example", "name": "Kai Ito", "timezone": "Asia/Tokyo"})
    queue = control(emu, "POST", "queues", {"name": "APAC"})
    case = control(emu, "POST", "cases", {"subject": "Down", "description": "all of it", "priority": "High",
                                          "contact_email": "z@customer.example", "contact_name": "Zoe",
                                          "owner_email": "kai@support.example"})  # fmt: skip
    assert case["CaseNumber"] == "00001000" and case["Priority"] == "High"
    assert control(emu, "POST", f"cases/{case['Id']}/owner", {"owner_id": queue["Id"]})["OwnerId"] == queue["Id"]
    closed = control(emu, "POST", f"cases/{case['Id']}/close")
    assert closed["IsClosed"] is True and SF_TIME.match(closed["ClosedDate"])
    sf.CaseComment.create({"ParentId": case["Id"], "CommentBody": "bye"})
    detail = control(emu, "GET", f"cases/{case['Id']}")
    assert [c["CommentBody"] for c in detail["comments"]] == ["bye"] and detail["files"] == []
    assert control(emu, "POST", "knobs", {"shuffle": True, "latency_ms": 0})["shuffle"] is True
    assert emu.server is not None
    hidden = requests.get(f"{emu.server.url}/services/data/v59.0/_sandbox/state", headers=sf.headers,
                          verify=emu.tls.ca_path)  # fmt: skip
    assert hidden.status_code == 404 and hidden.json()[0]["errorCode"] == "NOT_FOUND"


def test_oauth_token_flows(emu: SalesforceEmulator, case: dict[str, Any]) -> None:
    assert emu.server is not None
    url = f"{emu.server.url}/services/oauth2/token"
    form = {"grant_type": "password", "username": "ana@support.example", "password": "pw", "client_id": "c"}
    token = requests.post(url, data=form, verify=emu.tls.ca_path).json()
    assert token["instance_url"] == emu.server.url and token["token_type"] == "Bearer"
    assert client(emu, token["access_token"]).Case.get(case["Id"])["Id"] == case["Id"]
    claims = base64.urlsafe_b64encode(json.dumps({"sub": "ana@support.example"}).encode()).decode().rstrip("=")
    jwt = requests.post(url, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                   "assertion": f"e30.{claims}.sig"}, verify=emu.tls.ca_path)  # fmt: skip
    assert jwt.status_code == 200 and jwt.json()["id"].endswith(case["OwnerId"])
    refused = requests.post(url, data=form | {"username": "nobody@x.example"}, verify=emu.tls.ca_path)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_outbound_retries_the_batch_until_acknowledged(emu: SalesforceEmulator, receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.bodies.clear()
    rec.fail_next = 2
    emu.set_outbound_url(url)
    owner = emu.add_user("ana@support.example", "Ana Lima")
    case = emu.open_case("Printer on fire", "It smokes", "bo@customer.example", "Bo Berg", owner)
    assert emu.outbound.wait_idle(10)
    attempts = emu.outbound.history()
    assert [a["ok"] for a in attempts] == [False, False, True] and [a["status"] for a in attempts] == [500, 500, 200]
    assert len({tuple(a["notification_ids"]) for a in attempts}) == 1  # the same notification, redelivered
    seen = rec.notifications()
    assert len(seen) == 3 and seen[0]["id"].startswith("04l") and seen[0]["org"] == ORG
    assert (seen[-1]["CaseNumber"], seen[-1]["OwnerId"], seen[-1]["IsClosed"]) == (case["CaseNumber"], owner, "false")
    assert seen[-1]["ContactEmail"] == "bo@customer.example"

    queue = emu.add_queue("AMER")
    emu.update_case(case["Id"], OwnerId=queue)
    emu.update_case(case["Id"], Subject="only a subject change: no notification")
    emu.update_case(case["Id"], Status="Closed")
    assert emu.outbound.wait_idle(10)
    later = rec.notifications()[3:]
    assert [(n["OwnerId"], n["IsClosed"]) for n in later] == [(queue, "false"), (queue, "true")]
    assert len({n["id"] for n in later}) == 2 and later[0]["id"] != seen[0]["id"]


def test_outbound_batches_duplicates_and_refuses_false_acks(
    emu: SalesforceEmulator, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    rec.bodies.clear()
    for i in range(3):  # queued while no endpoint is configured, then sent in one POST
        emu.open_case(f"Case {i}", "", "c@customer.example", "C", None)
    emu.set_knobs(duplicate_rate=1.0)
    emu.set_outbound_url(url)
    assert emu.outbound.wait_idle(10)
    sizes = [len(a["notification_ids"]) for a in emu.outbound.history()]
    assert sizes[0] == 3 and sum(sizes) == 6
    ids = [n["id"] for n in rec.notifications()]
    assert len(set(ids)) == 3 and all(ids.count(i) == 2 for i in ids)  # at-least-once: same id twice
    assert not acknowledged(200, ACK.replace(">true<", ">false<")) and not acknowledged(500, ACK)
    assert not acknowledged(200, '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>') and acknowledged(200, ACK)
