"""The HTTP face of CaseRoom: webhooks in, the stable room URL, health and metrics.

The request path never calls a chat platform or the CRM: it verifies, stores and answers. Work happens in
jobs (see ``bot/worker.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text

from bot import __version__, cases, crm_webhook, dashboard, metrics, transcript
from bot.ingest import Ingest
from bot.limits import BodyLimit, BodyTooLarge
from bot.models import RoomState
from bot.services import Services
from bot.timing import WebhookTimer
from bot.web_responses import page

log = logging.getLogger(__name__)


def create_app(sv: Services, routers: Iterable[APIRouter] = (), ingest: Ingest | None = None,
               webhooks: Mapping[str, str] | None = None, body_limits: Mapping[str, int] | None = None) -> FastAPI:
    """The HTTP app: the core's routes and the plugins' ``routers``; ``webhooks`` maps the plugins' webhook paths
    to the source label their acknowledgement times are recorded under, ``body_limits`` the paths that take larger
    (or smaller) requests than CASEROOM_MAX_BODY_BYTES to their own limit."""
    app = FastAPI(title="CaseRoom", version=__version__, docs_url=None, redoc_url=None)
    app.state.services = sv
    ingest = ingest or Ingest(sv.db, sv.queue)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_request: Request, exc: BodyTooLarge) -> Response:
        return JSONResponse({"ok": False, "error": f"request body over {exc.limit} bytes"}, status_code=413)

    @app.exception_handler(Exception)
    async def _our_fault(request: Request, exc: Exception) -> Response:
        # A bug of ours is a 500, never a 400 "malformed": senders retry a 5xx, and nothing was kept. The
        # server logs the traceback as well (Starlette re-raises after this answer).
        log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return JSONResponse({"ok": False, "error": "internal error: nothing was kept; send it again"}, status_code=500)

    # Read through sv.clock on every request, so a test (or a replay tool) that sets the clock is obeyed.
    app.include_router(crm_webhook.router(ingest, _secret(sv), sv.settings.webhook_tolerance_seconds,
                                          now=lambda: sv.clock().timestamp(), platforms=sv.messaging.keys))  # fmt: skip
    for r in routers:
        app.include_router(r)
    app.include_router(dashboard.router(sv))

    @app.get("/healthz", tags=["operations"])
    def healthz() -> Response:
        try:
            with sv.db.session() as s:
                s.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 — health reports the failure instead of raising it
            return JSONResponse({"ok": False, "database": f"{type(exc).__name__}"}, status_code=503)
        return JSONResponse(
            {
                "ok": True,
                "database": sv.db.dialect,
                "platforms": sorted(sv.messaging),
                "crms": sorted(sv.crms),
            }
        )

    @app.get("/metrics", tags=["operations"])
    def prometheus() -> Response:
        for status, n in sv.queue.counts().items():
            metrics.JOBS_WAITING.labels(status=status).set(n)
        return PlainTextResponse(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/rooms/{case_number}", tags=["rooms"])
    def room(case_number: str) -> Response:
        """The case's one stable URL: redirects to the room wherever it lives."""
        with sv.db.session() as s:
            case = cases.case_by_number(s, case_number)
            found = cases.room_of(s, case.id) if case and case.id is not None else None
        if case is None:
            return page(404, "No such case", f"CaseRoom knows no case {case_number}.")
        if found is None or not found.url:
            if found is not None and found.state == RoomState.FAILED:
                return page(503, "Room unavailable", f"The room of case {case_number} could not be created.")
            return page(503, "Room being prepared", f"The room of case {case_number} is being prepared.", retry=5)
        if found.state == RoomState.CLOSED:
            return page(410, "Case closed", f"Case {case_number} is closed; its transcript is filed on the case.")
        return RedirectResponse(found.url, status_code=302)

    admin_only = dashboard.admin_gate(sv)

    @app.get("/cases/{case_number}/transcript", tags=["rooms"])
    def case_transcript(request: Request, case_number: str, fmt: str = Query("html", alias="format")) -> Response:
        """The case's transcript, streamed from the timeline (html, json or md); admins only."""
        refused = admin_only(request)
        if refused is not None:
            return refused
        if fmt not in transcript.FORMATS:
            return page(400, "Unknown format", f"Ask for one of: {', '.join(transcript.FORMATS)}.")
        with sv.db.session() as s:
            case = cases.case_by_number(s, case_number)
        if case is None or case.id is None:
            return page(404, "No such case", f"CaseRoom knows no case {case_number}.")
        name = f"case-{quote(case.number, safe='')}-transcript.{fmt}"
        headers = {"Content-Disposition": f"inline; filename={name}", "X-Content-Type-Options": "nosniff",
                   "Content-Security-Policy": transcript.CSP}  # fmt: skip
        return StreamingResponse(
            _stream(sv, case.id, case.platform, fmt),
            media_type=transcript.MEDIA_TYPES[fmt],
            headers=headers,
        )

    app.add_middleware(BodyLimit, max_bytes=sv.settings.max_body_bytes, by_path=dict(body_limits or {}))
    # Outermost: a 413 from BodyLimit is timed too.
    app.add_middleware(WebhookTimer, sources={crm_webhook.PATH: "crm", **(webhooks or {})})
    return app


def _stream(sv: Services, case_id: int, platform: str, fmt: transcript.Format) -> Iterator[bytes]:
    """Pieces of the transcript as they are rendered; no session is held while the client reads them."""
    messenger = sv.messaging.get(platform)
    doc = transcript.build(sv.db, case_id, visibility=messenger.visibility() if messenger else None)
    buf: list[str] = []
    size = 0
    for piece in transcript.chunks(doc, fmt):
        buf.append(piece)
        size += len(piece)
        if size >= 64_000:  # a few large writes rather than one per entry
            yield "".join(buf).encode()
            buf, size = [], 0
    yield "".join(buf).encode()


def _secret(sv: Services) -> str | None:
    s = sv.settings.crm_webhook_secret
    return s.get_secret_value() if s else None


