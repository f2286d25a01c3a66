"""The callbacks' delivery log on the dashboard: ``/admin/callbacks``, and each webhook case's own on its page.

Each event is a job (``events.DELIVER_KIND``), so the log is those jobs: what was sent, to which case, whether the
receiver took it, how often it was tried and what the receiver last answered; an undelivered one replays from here.
This module is the ``caseroom.dashboard`` entry point itself (a ``bot.dashboard.extensions.DashboardPart``).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request, Response

from bot.dashboard import render
from bot.dashboard.auth import Admin
from bot.dashboard.context import Dash
from bot.dashboard.pages import case_href, error_cell
from bot.dashboard.render import Html, esc, link, tag, when
from bot.events import WEBHOOK_CRM
from bot.jobs import REPLAYABLE
from bot.models import Case, Job, JobStatus, Participant, Room
from integrations.webhook.events import DELIVER_KIND
from integrations.webhook.settings import CallbackSettings

PATH = "/admin/callbacks"
LIMIT = 200
CASE_LIMIT = 50
nav = (PATH, "Callbacks")
flash: dict[str, str] = {}
flash_errors: dict[str, str] = {}
# What each job status means for an event.
SAYS = {JobStatus.DONE: "delivered", JobStatus.QUEUED: "waiting", JobStatus.RUNNING: "sending",
        JobStatus.DEAD: "failed"}  # fmt: skip


def router(d: Dash) -> APIRouter:
    r = APIRouter(tags=["dashboard"])

    @r.get(PATH)
    def deliveries(request: Request) -> Response:
        admin = d.gate(request)
        if isinstance(admin, Response):
            return admin
        cfg = d.sv.settings.section(CallbackSettings)
        if not cfg.configured:
            off = (f"Callbacks are off: set {CallbackSettings.variable('url')} and "
                   f"{CallbackSettings.variable('secret')} to send the cases of POST /webhooks/crm back to their CRM "
                   "(manifest/webhook/README.md).")  # fmt: skip
            return d.page(request, admin, "Callbacks", tag("p", off))
        counts = d.sv.queue.counts(kind=DELIVER_KIND)
        summary = ", ".join(f"{counts.get(st, 0)} {says}" for st, says in SAYS.items())
        body = render.join([
            tag("p", render.join(["Signed events to ", tag("code", cfg.url), f": {summary}. Each is sent until the "
                                  "receiver answers 2xx; a failed one replays with the same event id."])),
            _log(admin, d.sv.queue.list(kind=DELIVER_KIND, limit=LIMIT), f"Events, newest first (at most {LIMIT})",
                 with_case=True),
        ])  # fmt: skip
        return d.page(request, admin, "Callbacks", body)

    return r


def case_controls(d: Dash, admin: Admin, case: Case, room: Room | None, people: list[Participant]) -> Html | None:
    """The case's own callbacks, on the page of a case from the generic webhook while callbacks are on."""
    if case.crm != WEBHOOK_CRM or not d.sv.settings.section(CallbackSettings).configured:
        return None
    found = d.sv.queue.list(kind=DELIVER_KIND, lane=f"callback:{case.id}", limit=CASE_LIMIT)
    return render.join([tag("h2", "Callbacks to the CRM"),
                        _log(admin, found, f"This case's events, newest first (at most {CASE_LIMIT})")])  # fmt: skip


def _log(admin: Admin, jobs: Sequence[Job], caption: str, *, with_case: bool = False) -> Html:
    rows = []
    for j in jobs:
        event = j.payload.get("event") or {}
        status = SAYS.get(JobStatus(j.status), j.status)
        number = str(j.payload.get("case_number") or "")
        rows.append([
            j.id,
            render.join([tag("code", event.get("type", "")), " ", tag("span", event.get("id", ""), class_="muted")]),
            *([link(case_href(number), number) if number else esc("")] if with_case else []),
            tag("span", status, class_="good" if status == "delivered" else "bad" if status == "failed" else None),
            f"{j.attempts}/{j.max_attempts}",
            error_cell(j.last_error),
            when(j.finished_at if j.status == JobStatus.DONE else j.run_at),
            render.form(f"/admin/jobs/{j.id}/retry", admin.csrf, "", "Replay", css="inline",
                        button_label=f"Replay job {j.id}") if j.status in REPLAYABLE else "",
        ])  # fmt: skip
    headers = ["Job", "Event", *(["Case"] if with_case else []), "Status", "Attempts", "The receiver last said",
               "Delivered / due (UTC)", "Action"]  # fmt: skip
    return render.table(caption, headers, rows, numeric={0}, empty="No events yet.")
