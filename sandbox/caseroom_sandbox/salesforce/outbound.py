"""Outbound Messages: the SOAP notifications a record-triggered Flow sends when a Case is created, changes
owner or opens/closes, delivered from a background thread with Salesforce's semantics.

- Up to 100 notifications per POST (``text/xml; charset=utf-8``, ``SOAPAction: ""``).
- Success only on HTTP 200 whose body holds ``<Ack>true</Ack>`` (parsed with defusedxml); anything else fails
  the whole batch, which is retried with doubling gaps from ``retry_base_s`` up to ``max_gap_s`` (Salesforce:
  up to 2 h; 30 s here so tests stay fast) and dropped once older than ``max_age_s`` (24 h).
- The payload is the record at the time of the change, not of the delivery.
- Test knobs: ``duplicate_rate`` re-sends acknowledged notifications with the same id (at-least-once) and
  ``shuffle`` delivers in random order and batch sizes (unordered).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from caseroom_sandbox.salesforce.state import Record
from caseroom_sandbox.salesforce.wire import now, sf_datetime, soap_datetime

log = logging.getLogger(__name__)
NS = "http://soap.sforce.com/2005/09/outbound"
FIELDS = ("Id", "CaseNumber", "Subject", "Status", "IsClosed", "OwnerId", "ContactEmail", "Priority",
          "LastModifiedDate")  # fmt: skip
BATCH = 100
TIMEOUT_S = 10.0


@dataclass
class Notification:
    id: str
    case: Record
    created: float  # monotonic seconds, for the max age
    attempts: int = 0
    next_at: float = 0.0
    duplicate: bool = False


@dataclass
class OutboundKnobs:
    duplicate_rate: float = 0.0
    shuffle: bool = False
    max_age_s: float = 24 * 3600.0
    max_gap_s: float = 30.0


def _value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return soap_datetime(value) if name == "LastModifiedDate" else escape(str(value))


def envelope(org_id: str, action_id: str, instance_url: str, version: str, batch: list[Notification]) -> str:
    """The SOAP body, element for element as Salesforce writes it; null fields are left out, as it does."""
    org15 = org_id[:15]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        " <soapenv:Body>\n"
        f'  <notifications xmlns="{NS}">\n'
        f"   <OrganizationId>{escape(org_id)}</OrganizationId>\n"
        f"   <ActionId>{escape(action_id)}</ActionId>\n"
        '   <SessionId xsi:nil="true"/>\n'
        f"   <EnterpriseUrl>{escape(instance_url)}/services/Soap/c/{version}/{org15}</EnterpriseUrl>\n"
        f"   <PartnerUrl>{escape(instance_url)}/services/Soap/u/{version}/{org15}</PartnerUrl>\n"
    ]
    for n in batch:
        parts.append(f"   <Notification>\n    <Id>{n.id}</Id>\n")
        parts.append('    <sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">\n')
        for name in FIELDS:
            if n.case.get(name) is not None:
                parts.append(f"     <sf:{name}>{_value(name, n.case[name])}</sf:{name}>\n")
        parts.append("    </sObject>\n   </Notification>\n")
    parts.append("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n")
    return "".join(parts)


def acknowledged(status: int, body: str) -> bool:
    if status != 200:
        return False
    try:
        root = fromstring(body.encode())
    except (ParseError, DefusedXmlException) as exc:
        log.info("outbound: unparsable acknowledgement: %s", exc)
        return False
    return any(el.tag.rsplit("}", 1)[-1] == "Ack" and (el.text or "").strip() == "true" for el in root.iter())


class Outbound:
    def __init__(
        self,
        *,
        org_id: str,
        action_id: str,
        new_id: Callable[[], str],
        instance_url: Callable[[], str],
        version: str,
        retry_base_s: float,
        seed: int | None,
    ) -> None:
        self.org_id, self.action_id, self.version = org_id, action_id, version
        self.retry_base_s = retry_base_s
        self.url: str | None = None
        self.verify: bool | str = True  # a CA bundle path when the receiver serves its own TLS
        self.knobs = OutboundKnobs()
        self._new_id, self._instance_url = new_id, instance_url
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._pending: list[Notification] = []
        self._inflight = False
        self._stop = False
        self.attempts: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="sf-outbound", daemon=True)
        self._thread.start()

    # -- producer side ------------------------------------------------------------------------------
    def enqueue(self, case: Record) -> str:
        n = Notification(self._new_id(), case, time.monotonic())
        with self._cond:
            self._pending.append(n)
            self._cond.notify_all()
        return n.id

    def set_url(self, url: str | None) -> None:
        with self._cond:
            self.url = url
            self._cond.notify_all()

    def flush(self) -> None:
        """Make every pending notification due now (the "retry now" an admin can press)."""
        with self._cond:
            for n in self._pending:
                n.next_at = 0.0
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is pending or in flight; True if so within ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._inflight, timeout)

    def pending(self) -> list[dict[str, Any]]:
        with self._cond:
            return [{"id": n.id, "case_id": n.case["Id"], "attempts": n.attempts, "duplicate": n.duplicate,
                     "due_in_s": max(0.0, n.next_at - time.monotonic())} for n in self._pending]  # fmt: skip

    def history(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self.attempts)

    def clear(self) -> None:
        with self._cond:
            self._pending.clear()
            self.attempts.clear()
            self.dropped.clear()
            self.knobs = OutboundKnobs()

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=TIMEOUT_S + 1)

    # -- delivery thread ----------------------------------------------------------------------------
    def _take_batch(self) -> list[Notification] | None:
        """Called with the lock held: the next batch to send, or None after waiting for something due."""
        moment = time.monotonic()
        for n in [n for n in self._pending if moment - n.created > self.knobs.max_age_s]:
            self._pending.remove(n)
            self.dropped.append({"id": n.id, "case_id": n.case["Id"], "attempts": n.attempts,
                                 "at": sf_datetime(now())})  # fmt: skip
        due = [n for n in self._pending if n.next_at <= moment]
        if not due or not self.url:
            upcoming = [n.next_at - moment for n in self._pending if n.next_at > moment]
            self._cond.wait(min(upcoming) if upcoming and self.url else None)
            return None
        if self.knobs.shuffle:
            self._rng.shuffle(due)
            return due[: self._rng.randint(1, min(BATCH, len(due)))]
        return due[:BATCH]

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = None
                while not self._stop and batch is None:
                    batch = self._take_batch()
                if self._stop or batch is None:
                    return
                self._inflight = True
                url = self.url
                body = envelope(self.org_id, self.action_id, self._instance_url(), self.version, batch)
            status, text, error = self._post(str(url), body)
            with self._cond:
                self._settle(batch, url, body, status, text, error)
                self._inflight = False
                self._cond.notify_all()

    def _post(self, url: str, body: str) -> tuple[int | None, str, str | None]:
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""', "User-Agent": "Salesforce"}
        try:
            with httpx.Client(timeout=TIMEOUT_S, verify=self.verify) as client:
                response = client.post(url, content=body.encode(), headers=headers)
            return response.status_code, response.text, None
        except httpx.HTTPError as exc:
            return None, "", f"{type(exc).__name__}: {exc}"

    def _settle(
        self, batch: list[Notification], url: str | None, body: str, status: int | None, text: str, error: str | None
    ) -> None:
        ok = status is not None and acknowledged(status, text)
        self.attempts.append({
            "at": sf_datetime(now()), "url": url, "status": status, "ok": ok, "error": error,
            "notification_ids": [n.id for n in batch], "case_ids": [n.case["Id"] for n in batch],
            "attempt": max(n.attempts for n in batch) + 1, "body": body, "response": text[:2000],
        })  # fmt: skip
        moment = time.monotonic()
        if ok:
            # By identity: a reset may have emptied the queue while this batch was in flight.
            sent = {id(n) for n in batch}
            self._pending = [p for p in self._pending if id(p) not in sent]
            for n in batch:
                if not n.duplicate and self._rng.random() < self.knobs.duplicate_rate:
                    again = Notification(n.id, n.case, n.created, 0, moment + self.retry_base_s, duplicate=True)
                    self._pending.append(again)
            return
        for n in batch:
            n.attempts += 1
            n.next_at = moment + min(self.retry_base_s * 2 ** (n.attempts - 1), self.knobs.max_gap_s)
