"""`POST /webhooks/salesforce`: Outbound Messages (SOAP) from the case Flow, stored, then acknowledged.

Salesforce retries a batch until it gets HTTP 200 with ``<Ack>true</Ack>``, delivers out of order and sends
the record as it was when it changed. So each ``Notification`` is stored under its own id (a redelivery
changes nothing) and becomes a case event marked ``reread``: the job reads the case again before acting.
Parsing refuses DTDs and entities outright (XXE, billion laughs) with 400; a foreign ``OrganizationId`` is
403 before anything is stored. Salesforce sends the 18-character org id; all 18 characters must match (an admin's
15-character ``SALESFORCE_ORG_ID`` stands for its 18-character form). An Outbound Message carries no signature,
so the org id is a check, not an authentication: the Salesforce manifest's README says how to restrict the route.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from bot import metrics
from bot.events import CaseEvent
from bot.ingest import Ingest, JobSpec
from handlers import case_events
from integrations.crm import CaseSnapshot
from integrations.salesforce.crm import NAME as SALESFORCE
from integrations.salesforce.crm import parse_sf_datetime
from integrations.salesforce.ids import same_record

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
MAX_NOTIFICATIONS = 100
PATH = "/webhooks/salesforce"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: Element, name: str) -> Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _text(el: Element, name: str) -> str:
    found = _child(el, name)
    return (found.text or "").strip() if found is not None else ""


def parse(body: bytes) -> tuple[str, list[tuple[str, dict[str, str]]]]:
    """``(OrganizationId, [(notification id, {field: value})])``, or :class:`Refused` (400)."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise Refused(400, f"refused: {type(exc).__name__} (DTDs and entities are not accepted)") from exc
    except (ParseError, ValueError) as exc:
        raise Refused(400, f"not well-formed XML: {exc}") from exc
    body_el = _child(root, "Body") if _local(root.tag) == "Envelope" else None
    notes = _child(body_el, "notifications") if body_el is not None else None
    if notes is None or notes.tag != f"{{{OUTBOUND_NS}}}notifications":
        raise Refused(400, "not an Outbound Message: expected soapenv:Envelope/soapenv:Body/notifications")
    org = _text(notes, "OrganizationId")
    found: list[tuple[str, dict[str, str]]] = []
    for n in notes:
        if _local(n.tag) != "Notification":
            continue
        note_id, sobject = _text(n, "Id"), _child(n, "sObject")
        if not note_id or sobject is None:
            raise Refused(400, "a Notification lacks its Id or sObject")
        fields = {_local(f.tag): (f.text or "").strip() for f in sobject}
        if not fields.get("Id"):
            raise Refused(400, f"Notification {note_id}: the sObject has no Id field")
        found.append((note_id, fields))
    if not found:
        raise Refused(400, "no Notification in the message")
    if len(found) > MAX_NOTIFICATIONS:
        raise Refused(400, f"{len(found)} notifications; Salesforce sends at most {MAX_NOTIFICATIONS}")
    return org, found


def to_event(note_id: str, fields: dict[str, str], now: datetime) -> CaseEvent:
    closed = fields.get("IsClosed", "").lower() == "true"
    modified = parse_sf_datetime(fields.get("LastModifiedDate")) or now
    snap = CaseSnapshot(
        crm_id=fields["Id"], number=fields.get("CaseNumber") or fields["Id"], subject=fields.get("Subject", ""),
        status=fields.get("Status", ""), priority=fields.get("Priority", ""), is_closed=closed,
        owner_id=fields.get("OwnerId", ""), modified_at=modified,
    )  # fmt: skip
    # The type is provisional: the job re-reads the case and decides what actually happened.
    return CaseEvent(event_id=note_id, type="case.closed" if closed else "case.updated", occurred_at=modified,
                     case=snap, crm=SALESFORCE, reread=True)  # fmt: skip


def router(ingest: Ingest, org_id: str) -> APIRouter:
    r = APIRouter()

    @r.post(PATH, tags=["webhooks"])
    async def salesforce_outbound(request: Request) -> Response:
        body = await request.body()
        try:
            org, notes = parse(body)
            if not same_record(org, org_id):
                raise Refused(403, "OrganizationId does not match SALESFORCE_ORG_ID")
        except Refused as exc:
            outcome = "forbidden" if exc.status == 403 else "malformed"
            metrics.WEBHOOKS.labels(source="salesforce", outcome=outcome).inc()
            return fault(exc.status, str(exc))
        new = await run_in_threadpool(store, ingest, notes)
        metrics.WEBHOOKS.labels(source="salesforce", outcome="accepted").inc(new)
        metrics.WEBHOOKS.labels(source="salesforce", outcome="duplicate").inc(len(notes) - new)
        return Response(ACK, media_type="text/xml; charset=utf-8")

    return r


def store(ingest: Ingest, notes: list[tuple[str, dict[str, str]]]) -> int:
    now = datetime.now(UTC)
    stored = []
    for note_id, fields in notes:
        event = to_event(note_id, fields, now)
        raw = json.dumps({"notification": note_id, "sObject": fields})
        job = JobSpec(case_events.KIND, event.to_payload(), lane=case_events.lane(event.case.crm_id))
        stored.append(ingest.submit("salesforce", note_id, raw, [job]))  # a batch of 100 shares one commit
    return sum(f.result() for f in stored)


def fault(status: int, reason: str) -> Response:
    """A SOAP fault: Salesforce logs its faultstring on the Outbound Message delivery status page."""
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>soapenv:Client</faultcode><faultstring>{escape(reason)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(envelope, status_code=status, media_type="text/xml; charset=utf-8")
