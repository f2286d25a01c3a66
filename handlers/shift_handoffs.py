"""Scheduled follow-the-sun handoffs, as three kinds of keyed durable jobs.

``shifts.clock`` (enqueued by the scheduler leader every minute) finds the shift starts of the last
:data:`CATCH_UP` and enqueues one ``shifts.start`` per region and local start instant. That job picks the
engineer on duty and fans out one ``shifts.case`` per open case that follows the sun, in the case's lane.
Every key names the region and the local start, so ticks repeated by two leaders during a hand-over, a
clock job retried after a crash, or two replicas draining the queue all make one handoff per case.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from bot import copy, logs, shifts
from bot.models import Case, Job, Room, RoomState
from bot.services import Services
from bot.shifts.handoff import Handoff, ensure_handoff
from handlers import case_events
from integrations.crm import Person

log = logging.getLogger(__name__)

CLOCK_KIND = "shifts.clock"
START_KIND = "shifts.start"
CASE_KIND = "shifts.case"
CLOCK_SECONDS = 60
# A start is still handed over this long after it passed (no leader for a while, a backlog); a later one is
# left to the next shift rather than waking a room with stale news.
CATCH_UP = timedelta(hours=2)


def clock(sv: Services, job: Job) -> None:
    rota = shifts.rota_for(sv.settings)
    if rota is None:
        return
    now = sv.clock()
    with sv.db.session() as s:
        for region in rota.regions:
            for shift in region.starts_between(now - CATCH_UP, now):
                payload = {"region": region.name, "day": shift.day.isoformat(), "start": shift.start.isoformat()}
                sv.queue.enqueue(s, START_KIND, payload, key=f"shift:{shift.key}")
        s.commit()


def start(sv: Services, job: Job) -> None:
    """One region's shift started: hand every open follow-the-sun case to its engineer on duty."""
    rota = shifts.rota_for(sv.settings)
    region = rota.region(job.payload["region"]) if rota else None
    shift = region.shift_on(date.fromisoformat(job.payload["day"])) if region else None
    if shift is None or shift.start != datetime.fromisoformat(job.payload["start"]):
        log.warning("shift %s is no longer in the rota; no handoff", job.payload)
        return
    engineer = shifts.on_duty(shift, sv.crms.values())
    if engineer is None:
        log.warning("nobody is on duty for %s: cases stay with their engineers", shift.key)
        return
    local = shift.local_start.strftime("%H:%M %a %d %b %Z")
    with sv.db.session() as s:
        q = (
            select(col(Case.crm_id), col(Case.number), col(Case.priority))
            .join(Room, col(Room.case_id) == col(Case.id))
            .where(col(Room.state) == RoomState.OPEN, col(Case.is_closed).is_(False))
            .order_by(col(Case.id))
        )
        open_cases = s.execute(q).all()
        n = 0
        for crm_id, number, priority in open_cases:
            if not shifts.follows_the_sun(sv.settings, priority or ""):
                continue
            payload = {
                "crm_id": crm_id,
                "number": number,
                "shift": shift.key,
                "reason": copy.shift_starts(shift.region.name, local),
                "engineer": {"email": engineer.email, "name": engineer.name, "timezone": engineer.timezone},
            }
            sv.queue.enqueue(s, CASE_KIND, payload, key=f"shift:{shift.key}:{crm_id}",
                             lane=case_events.lane(crm_id))  # fmt: skip
            n += 1
        s.commit()
    log.info("%s: %d open case(s) handed to %s", shift.key, n, engineer.email)


def case(sv: Services, job: Job) -> None:
    p = job.payload
    handoff = Handoff(p["crm_id"], Person(**p["engineer"]), f"handoff:shift:{p['shift']}", p["reason"])
    with logs.about_case(p.get("number")):  # queued before the number was in the payload: no number
        log.debug("%s (%s): %s", p["shift"], p["crm_id"], ensure_handoff(sv, handoff))
