"""A local HTTPS emulator of the Salesforce REST API and of Case Outbound Messages, for tests and `make run`.

It is a test double at the network boundary: CaseRoom talks to it through the real ``simple-salesforce`` over
real TLS (the SDK always builds ``https://`` URLs). Wiring::

    emu = SalesforceEmulator(seed=7, page_size=2000, outbound_url="http://127.0.0.1:8000/crm/salesforce")
    server = emu.start()                      # HTTPS on 127.0.0.1, certificate from a per-process CA
    session = requests.Session(); session.verify = emu.tls.ca_path   # or REQUESTS_CA_BUNDLE=emu.tls.ca_path
    sf = Salesforce(instance_url=server.url, session_id=emu.access_token, session=session, version="59.0")

REST (``/services/data/v{version}/``, bearer required): ``sobjects`` Case, User, Group (queues), Account,
Contact, CaseComment, FeedItem, ContentVersion (+ ``/{id}/VersionData``), ContentDocument, ContentDocumentLink,
Organization (one read-only record whose Id is the org id);
``query``/``queryAll`` with a SOQL subset (see ``soql.py``) paged at ``page_size`` via ``nextRecordsUrl``.
``POST /services/oauth2/token`` (password, JWT bearer; see ``oauth.py``). Every ``/services/data/v*`` answer
carries ``Sforce-Limit-Info: api-usage=N/limit``.

Faults (``emu.faults`` / ``POST /_sandbox/knobs``): a rate-limited call answers 403
``[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`` (Salesforce has no 429
on REST) and an injected error 503 ``[{"errorCode":"SERVER_UNAVAILABLE",...}]``; both add ``Retry-After`` (not
sent by Salesforce) so the product's retry logic can be exercised. Rate-limit names: ``resources``,
``sobjects.list``, ``sobjects.<Type>.create|get|patch|delete|describe|metadata``,
``sobjects.ContentVersion.versiondata``, ``query`` (query, queryAll and their next pages).

Org knobs (same endpoint): ``assignment_rule_owner`` (an owner id that active assignment rules give a Case on
every REST save lacking ``Sforce-Auto-Assign: FALSE``), ``api_daily_limit`` (15000), and for Outbound
Messages ``duplicate_rate``, ``shuffle``, ``outbound_max_age_s``, ``outbound_max_gap_s``.

A case can be opened by a save that started earlier and commits now (``open_case(..., started_at=...)``,
``POST /_sandbox/cases`` with ``save_started_at``): Salesforce stamps LastModifiedDate when a save starts, so
such a change appears behind changes that were visible before it.
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from caseroom_sandbox.faults import FaultInjector, Knobs
from caseroom_sandbox.salesforce.control import Control
from caseroom_sandbox.salesforce.oauth import OAuth
from caseroom_sandbox.salesforce.outbound import Outbound, OutboundKnobs
from caseroom_sandbox.salesforce.rest import Rest, method_name
from caseroom_sandbox.salesforce.state import Org, Record
from caseroom_sandbox.salesforce.tls import TlsFiles
from caseroom_sandbox.salesforce.view import rest_record
from caseroom_sandbox.salesforce.wire import SalesforceError, error_response, now
from caseroom_sandbox.server import ServerThread

__all__ = ["SalesforceEmulator", "method_name"]
SEASONS = ("Winter", "Spring", "Summer")


@dataclass
class OrgKnobs:
    assignment_rule_owner: str | None = None
    api_daily_limit: int = 15000


class SalesforceEmulator:
    def __init__(
        self,
        org_id: str = "00D000000000001EAA",
        seed: int | None = None,
        api_version: str = "59.0",
        outbound_url: str | None = None,
        retry_base_s: float = 0.5,
        page_size: int = 2000,
    ) -> None:
        self.org_id, self.seed, self.api_version, self.page_size = org_id, seed, api_version, page_size
        self.tls = TlsFiles()
        self.faults = FaultInjector(Knobs(seed=seed))
        self.knobs = OrgKnobs()
        self.instance_url = "https://127.0.0.1"  # replaced by start(); used in Outbound Message URLs
        self.org = Org(org_id, seed)
        self.outbound = Outbound(
            org_id=org_id, action_id=self.org.new_id("04k"), new_id=lambda: self.org.new_id("04l"),
            instance_url=lambda: self.instance_url, version=api_version, retry_base_s=retry_base_s, seed=seed,
        )  # fmt: skip
        self.outbound.set_url(outbound_url)
        self.org.on_case_change = lambda after, before: self._on_case_change(after)
        self._lock = threading.Lock()
        self._tokens: set[str] = set()
        self.access_token = self.issue_token()
        self.api_usage = 0
        self.server: ServerThread | None = None
        self.rest = Rest(self)
        self.app = Starlette(
            routes=self.rest.routes() + OAuth(self).routes() + Control(self).routes(),
            middleware=[Middleware(BaseHTTPMiddleware, dispatch=self._guard)],
            exception_handlers={SalesforceError: self._on_error, HTTPException: self._on_http},  # type: ignore[dict-item]
        )

    # -- serving ------------------------------------------------------------------------------------
    def start(self) -> ServerThread:
        self.server = ServerThread(self.app, ssl_certfile=self.tls.cert_path, ssl_keyfile=self.tls.key_path).start()
        self.instance_url = self.server.url
        return self.server

    def close(self) -> None:
        """Stop the server (if started here), the delivery thread, and delete the TLS files."""
        if self.server is not None:
            self.server.stop()
        self.outbound.close()
        self.tls.cleanup()

    def versions(self) -> list[dict[str, str]]:
        newest = int(float(self.api_version))
        out = []
        for major in range(31, newest + 1):
            step = major - 59  # v59.0 is Winter '24; three releases a year
            label = f"{SEASONS[step % 3]} '{24 + step // 3:02d}"
            out.append({"label": label, "url": f"/services/data/v{major}.0", "version": f"{major}.0"})
        return out

    # -- sessions -----------------------------------------------------------------------------------
    def issue_token(self) -> str:
        token = f"{self.org_id[:15]}!AQ{secrets.token_urlsafe(48)}"
        with self._lock:
            self._tokens.add(token)
        return token

    def expire_sessions(self) -> str:
        """Invalidate every session (the product must re-authenticate); returns the new ``access_token``."""
        with self._lock:
            self._tokens.clear()
        self.access_token = self.issue_token()
        return self.access_token

    # -- people, queues, cases ----------------------------------------------------------------------
    def add_user(self, email: str, name: str, timezone: str = "Europe/Amsterdam") -> str:
        """The user's id; a user with that e-mail already there is kept as is."""
        known = self.org.user_by_email(email)
        if known is not None:
            return str(known["Id"])
        first, _, last = name.rpartition(" ")
        return self.org.create("User", {"Email": email, "FirstName": first or None, "LastName": last,
                                        "TimeZoneSidKey": timezone}, system=True)  # fmt: skip

    def add_queue(self, name: str) -> str:
        return self.org.create("Group", {"Name": name, "Type": "Queue"}, system=True)

    def open_case(
        self,
        subject: str,
        description: str,
        contact_email: str,
        contact_name: str,
        owner_id: str | None = None,
        priority: str = "Medium",
        started_at: datetime | None = None,
    ) -> Record:
        """A customer opens a case (web-to-case): the contact is found or created by e-mail. Fires outbound.

        ``started_at``: the save began then and commits now (a slow trigger or Flow, a data load), so the case's
        CreatedDate and LastModifiedDate lie behind changes already visible.
        """
        if started_at is not None and started_at > now():
            raise ValueError("started_at: a save cannot start in the future")
        wanted = contact_email.lower()
        contact = next((c for c in self.org.all("Contact") if (c["Email"] or "").lower() == wanted), None)
        if contact is None:
            first, _, last = contact_name.rpartition(" ")
            names = {"FirstName": first or None, "LastName": last, "Email": contact_email}
            contact_id = self.org.create("Contact", names)
        else:
            contact_id = contact["Id"]
        data = {"Subject": subject, "Description": description, "ContactId": contact_id, "Priority": priority,
                "Origin": "Web", "OwnerId": owner_id or self.org.integration_user_id}  # fmt: skip
        case_id = self.org.create("Case", data, started_at=started_at)
        return rest_record("Case", self.org.get("Case", case_id), self.api_version)

    def update_case(self, case_id: str, **fields: Any) -> Record:
        """An agent edits the case (e.g. ``OwnerId=...``, ``Status="Closed"``). Fires outbound on owner/closure."""
        self.org.update("Case", case_id, fields)
        return rest_record("Case", self.org.get("Case", case_id), self.api_version)

    def case_detail(self, case_id: str) -> Record:
        case = rest_record("Case", self.org.get("Case", case_id), self.api_version)
        key = case["Id"][:15]
        comments = [c for c in self.org.all("CaseComment") if c["ParentId"][:15] == key]
        feed = [f for f in self.org.all("FeedItem") if f["ParentId"][:15] == key]
        files = []
        for link in self.org.all("ContentDocumentLink"):
            if link["LinkedEntityId"][:15] != key:
                continue
            document = self.org.get("ContentDocument", link["ContentDocumentId"])
            version = self.org.get("ContentVersion", document["LatestPublishedVersionId"])
            files.append({"content_document_id": document["Id"], "content_version_id": version["Id"],
                          "title": version["Title"], "path": version["PathOnClient"], "size": version["ContentSize"],
                          "description": version.get("Description"),
                          "link_id": link["Id"]})  # fmt: skip
        return case | {"comments": comments, "feed_items": feed, "files": files}

    # -- outbound -----------------------------------------------------------------------------------
    def set_outbound_url(self, url: str | None) -> None:
        self.outbound.set_url(url)

    def flush_outbound(self, timeout: float = 5.0) -> bool:
        """Retry every pending notification now and wait until none is left; True if all were acknowledged."""
        self.outbound.flush()
        return self.outbound.wait_idle(timeout)

    def _on_case_change(self, case: Record) -> None:
        self.outbound.enqueue(copy.deepcopy(case))

    # -- knobs and inspection -----------------------------------------------------------------------
    def set_knobs(self, **changes: Any) -> None:
        org_names = {f.name for f in fields(OrgKnobs)}
        out_names = {f"outbound_{f.name}" if f.name.startswith("max") else f.name for f in fields(OutboundKnobs)}
        for name in [n for n in changes if n in org_names]:
            setattr(self.knobs, name, changes.pop(name))
        for name in [n for n in changes if n in out_names]:
            setattr(self.outbound.knobs, name.removeprefix("outbound_"), changes.pop(name))
        if changes:
            self.faults.update(**changes)

    def knob_values(self) -> dict[str, Any]:
        out = {("outbound_" + k if k.startswith("max") else k): v for k, v in asdict(self.outbound.knobs).items()}
        return asdict(self.knobs) | out | self.faults.knobs.to_dict()

    def snapshot(self) -> dict[str, Any]:
        with self.org.lock:
            records = {name: self.org.all(name) for name in self.org.records}
        return {"org_id": self.org_id, "api_usage": self.api_usage, "records": records,
                "knobs": self.knob_values(), "outbound_pending": self.outbound.pending()}  # fmt: skip

    def reset(self) -> None:
        """Empty the org (a fresh integration user), outbound history, cursors, usage and knobs; keep sessions."""
        self.org.clear()
        self.outbound.clear()
        self.rest.cursors.clear()
        self.knobs = OrgKnobs()
        self.faults.configure(Knobs(seed=self.seed))
        self.api_usage = 0

    # -- plumbing -----------------------------------------------------------------------------------
    async def _guard(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await self._checked(request, call_next)
        # Without this, stopping the server waits ~30 s per idle TLS keep-alive connection a client still holds
        # (uvicorn waits for the close_notify exchange); one handshake per call is cheap on loopback.
        response.headers["Connection"] = "close"
        return response

    async def _checked(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if not path.startswith("/services/data/v"):
            return await call_next(request)
        version = path.split("/")[3][1:]
        if version not in {v["version"] for v in self.versions()}:
            return self._limited(error_response(404, "NOT_FOUND", "The requested resource does not exist"))
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            valid = scheme.lower() in ("bearer", "oauth") and token.strip() in self._tokens
        if not valid:
            return self._limited(error_response(401, "INVALID_SESSION_ID", "Session expired or invalid"))
        with self._lock:
            self.api_usage += 1
        if self.api_usage > self.knobs.api_daily_limit:
            # Salesforce's window is a rolling 24 h; an hour is a plausible wait for a client to honour.
            return self._limited(self._rate_limited(3600))
        response = await self.faults.apply(
            method_name(request.method, path), request, call_next,
            on_ratelimit=self._rate_limited,
            on_error=lambda: error_response(503, "SERVER_UNAVAILABLE", "Server is unavailable. Please try again later.",
                                            headers={"Retry-After": "1"}),
        )  # fmt: skip
        return self._limited(response)

    def _limited(self, response: Response) -> Response:
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_usage}/{self.knobs.api_daily_limit}"
        return response

    @staticmethod
    def _rate_limited(retry_after: int) -> Response:
        return error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.",
                              headers={"Retry-After": str(retry_after)})  # fmt: skip

    async def _on_error(self, request: Request, exc: SalesforceError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)

    async def _on_http(self, request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            message = f"HTTP Method '{request.method}' not allowed."
            return error_response(405, "METHOD_NOT_ALLOWED", message, headers=dict(exc.headers or {}))
        return error_response(exc.status_code, "NOT_FOUND", "The requested resource does not exist")
