"""The rooms list, one case's page, and the dead-letter queue with its replay button."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select, text
from sqlmodel import col

from bot import cases, filing, timeline
from bot.dashboard import render
from bot.dashboard.context import Dash
from bot.dashboard.render import Html, esc, link, tag, when
from bot.jobs import REPLAYABLE
from bot.membership import participants
from bot.models import ROOM_NOT_CLOSED, Case, CaseFile, Job, JobStatus, ParticipantStatus, Room, TimelineEvent

TIMELINE_LIMIT = 500
ROOMS_LIMIT = 500
ERROR_PREVIEW = 300


def case_href(number: str) -> str:
    return f"/admin/cases/{quote(number, safe='')}"


def router(d: Dash) -> APIRouter:
    r = APIRouter(tags=["dashboard"])

    @r.get("/admin")
    def rooms(request: Request, closed: bool = False) -> Response:
        admin = d.gate(request)
        if isinstance(admin, Response):
            return admin
        now = d.sv.clock()
        with d.sv.db.session() as s:
            # Each shown room's newest entry, read from the end of its (case, time) index: the page's cost
            # follows the rooms shown, not the history behind them, and recording an entry writes nothing more.
            last = (
                select(col(TimelineEvent.at))
                .where(col(TimelineEvent.case_id) == col(Case.id))
                .order_by(col(TimelineEvent.at).desc())
                .limit(1)
                .correlate(Case)
                .scalar_subquery()
            )
            q = (
                select(Case, Room, last)
                .join(Room, col(Room.case_id) == col(Case.id))
                .order_by(col(Case.created_at).desc())
                .limit(ROOMS_LIMIT)
            )
            if not closed:
                # From the few rooms not yet closed (their partial index), not from every case newest first
                # looking for them: the closed ones pile up with the years, the open ones do not.
                q = q.where(col(Case.id).in_(select(col(Room.case_id)).where(text(ROOM_NOT_CLOSED))))
            found = s.execute(q).all()
        rows = [
            [
                link(case_href(c.number), c.number),
                c.subject,
                render.state(room.state),
                room.platform,
                c.engineer_name or c.engineer_email or "none",
                render.age(now - c.created_at),
                when(last_at),
            ]
            for c, room, last_at in found
        ]
        which = "all rooms" if closed else "rooms not yet closed"
        toggle = link("/admin" if closed else "/admin?closed=true", "Hide closed" if closed else "Show closed too")
        headers = ["Case", "Subject", "State", "Platform", "Engineer", "Age", "Last activity (UTC)"]
        body = render.join(
            [
                tag("p", render.join([f"{len(rows)} {which}, newest first. ", toggle])),
                render.table(f"Rooms ({which})", headers, rows, empty="No open rooms."),
            ]
        )
        return d.page(request, admin, "Rooms", body)

    @r.get("/admin/cases/{number}")
    def case_page(request: Request, number: str) -> Response:
        admin = d.gate(request)
        if isinstance(admin, Response):
            return admin
        with d.sv.db.session() as s:
            case = cases.case_by_number(s, number)
            if case is None or case.id is None:
                return d.page(request, admin, "No such case", tag("p", _unknown(number)), status=404)
            room = cases.room_of(s, case.id)
            people = participants(s, case.id)
            files = list(s.execute(select(CaseFile).where(col(CaseFile.case_id) == case.id)).scalars())
            shown = timeline.latest(s, case.id, TIMELINE_LIMIT)
            total = timeline.count(s, case.id)
            url_job = s.execute(select(Job).where(col(Job.key) == filing.url_key(case.id))).scalar_one_or_none()
        facts = [
            ["Subject", case.subject],
            ["CRM id", case.crm_id],
            ["Priority", case.priority or "none"],
            ["CRM status", case.status or "none"],
            ["Room", render.state(room.state) if room else "no room yet"],
            ["Platform", room.platform if room else case.platform],
            ["Room error", room.error or "none" if room else "none"],
            ["Room URL on the CRM", _url_written(room, url_job)],
            ["Customer", _person(case.customer_name, case.customer_email)],
            ["Engineer", _person(case.engineer_name, case.engineer_email)],
            ["Opened (first seen)", when(case.created_at)],
            ["Closed", when(case.closed_at)],
        ]
        transcript = f"/cases/{quote(case.number, safe='')}/transcript"
        links = render.join(
            [link(transcript, "Transcript"), " · ", link(f"/rooms/{quote(case.number, safe='')}", "Room (stable URL)")]
            + ([" · ", link(case.link, "CRM record")] if case.link else [])
        )
        body = [
            tag("p", links),
            render.table("Case", ["Field", "Value"], facts),
            tag("h2", "Participants"),
            render.table(
                "People in the room and how they got there",
                ["Name", "E-mail", "Role", "Status", "Time zone", "Since (UTC)"],
                [[p.name, p.email, p.role, _status(p.status, p.status_reason), p.timezone or "", when(p.updated_at)]
                 for p in people],
                empty="Nobody yet.",
            ),
            tag("h2", "Files"),
            render.table(
                "Files shared in the room",
                ["Name", "Size (bytes)", "Uploaded by", "Uploaded (UTC)", "On the CRM case"],
                [[f.name, f.size if f.size is not None else "", f.uploaded_by or "", when(f.uploaded_at),
                  tag("span", "filed", class_="good") if f.crm_ref else tag("span", "not yet", class_="bad")]
                 for f in files],
                numeric={1},
                empty="No files shared.",
            ),
            tag("h2", "Timeline"),
            tag("p", f"{total} events" + (f"; the last {len(shown)} are shown" if total > len(shown) else "")
                + ". Times are UTC.", class_="muted"),
            render.table(
                f"Timeline of case {case.number}",
                ["When (UTC)", "What", "Who", "Text"],
                [[when(e.at), e.kind, e.actor_name or e.actor_email or "", tag("pre", e.text)] for e in shown],
                empty="Nothing recorded yet.",
            ),
        ]
        body += [extra for p in d.parts if (extra := p.case_controls(d, admin, case, room, people)) is not None]
        return d.page(request, admin, f"Case {case.number}", render.join(body))

    @r.get("/admin/jobs")
    def jobs(request: Request, status: str = JobStatus.DEAD) -> Response:
        admin = d.gate(request)
        if isinstance(admin, Response):
            return admin
        if status not in set(JobStatus):
            status = JobStatus.DEAD
        counts = d.sv.queue.counts()
        found = d.sv.queue.list(status=status, limit=200)
        tabs = render.join(
            tag("li", link(f"/admin/jobs?status={st}", f"{st} ({counts.get(st, 0)})"),
                aria_current="page" if st == status else None)
            for st in JobStatus
        )  # fmt: skip
        rows = [
            [
                j.id,
                j.kind,
                _case_of(j.payload),
                f"{j.attempts}/{j.max_attempts}",
                error_cell(j.last_error),
                when(j.finished_at or j.run_at),
                render.form(f"/admin/jobs/{j.id}/retry", admin.csrf, "", "Replay", css="inline",
                            button_label=f"Replay job {j.id}")
                if j.status in REPLAYABLE
                else "",
            ]
            for j in found
        ]
        title = "Dead letters" if status == JobStatus.DEAD else f"Jobs: {status}"
        intro = (
            "Jobs that used all their attempts or were refused for good. Fix the cause, then replay: the job runs "
            "again with a fresh attempt budget, and the steps it finished before are skipped."
        )
        body = render.join(
            [
                tag("p", intro),
                tag("nav", tag("ul", tabs), aria_label="Job status"),
                render.table(
                    f"{status} jobs, newest first (at most 200)",
                    ["Job", "Kind", "Case", "Attempts", "Last error", "Finished / due (UTC)", "Action"],
                    rows,
                    numeric={0},
                    empty=f"No {status} jobs.",
                ),
            ]
        )
        return d.page(request, admin, title, body)

    @r.post("/admin/jobs/{job_id}/retry")
    def replay(request: Request, job_id: int, csrf: str = Form("")) -> Response:
        admin = d.guard_post(request, csrf)
        if isinstance(admin, Response):
            return admin
        try:
            d.sv.queue.retry(job_id)
        except (LookupError, ValueError):
            return RedirectResponse("/admin/jobs?status=dead&error=not-replayable", status_code=303)
        return RedirectResponse("/admin/jobs?status=queued&done=replayed", status_code=303)

    return r


def _unknown(number: str) -> str:
    return f"CaseRoom knows no case {number} (yet: a case event just sent is processed in a moment; reload)."


def _person(name: str | None, email: str | None) -> str:
    if not email:
        return "none"
    return f"{name} <{email}>" if name else email


def _status(status: str, reason: str) -> Html:
    cls = "bad" if status in (ParticipantStatus.REFUSED, ParticipantStatus.PENDING) else None
    return render.join([tag("span", status, class_=cls), f": {reason}" if reason else ""])


def _url_written(room: Room | None, job: Job | None) -> Html:
    """Whether the case's CRM has the room's stable URL, and if not, why not yet."""
    if room is not None and (at := room.steps.get(filing.URL_STEP)):
        return render.join([tag("span", "written", class_="good"), " (", when(datetime.fromisoformat(at)), ")"])
    if job is None:
        return esc("not yet (once the room is open)")
    if job.status == JobStatus.DEAD:
        return render.join([tag("span", "failed", class_="bad"), f": {job.last_error or ''} (",
                            link("/admin/jobs?status=dead", f"replay job {job.id}"), ")"])  # fmt: skip
    if job.attempts and job.last_error:
        return render.join([tag("span", f"retrying: attempt {job.attempts + 1} due", class_="bad"), " ",
                            when(job.run_at), f" (the last said {job.last_error})"])  # fmt: skip
    return esc("being written")


def _case_of(payload: dict[str, Any]) -> Html:
    case = payload.get("case")
    number = case.get("number") if isinstance(case, dict) else payload.get("case_number")
    return link(case_href(str(number)), str(number)) if number else esc("")


def error_cell(text: str | None) -> Html:
    if not text:
        return esc("")
    if len(text) <= ERROR_PREVIEW:
        return tag("pre", text)
    return Html(f"<details><summary>{esc(text[:ERROR_PREVIEW])}…</summary>{tag('pre', text)}</details>")
