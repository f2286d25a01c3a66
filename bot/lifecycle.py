"""The case-room state machine: opening -> open -> closing -> closed (and failed).

Every step is an "ensure": it looks at what is recorded, does only what is missing, and records it.
Running a step twice, or resuming after a crash at any point, does nothing new. Database sessions are
short and never held across a platform call (replicas and the HTTP ack path must not wait on them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from functools import partial
from typing import Any

from bot import bot_posts, cases, copy, filing, logs, search, timeline
from bot.closure import ensure_closed
from bot.events import CaseEvent
from bot.jobs import PermanentJobError
from bot.membership import ensure_member
from bot.models import Case, Role, RoomState, utcnow
from bot.services import Services
from bot.shifts.handoff import Handoff, ensure_handoff
from integrations.crm import Person
from integrations.messaging import RoomSpec

log = logging.getLogger(__name__)

# An owner change is recorded in the same transaction as the new engineer, as its own durable job: once the
# case row says "Kenji", a retried case event no longer sees a change, so a handoff that failed half-way is
# finished by that job rather than lost.
ROTATE_KIND = "case.rotate"


def together(steps: list[Callable[[], object]], parallel: int) -> None:
    """Run independent steps at once; when any fails, the first failure is raised after all have ended
    (each step records its own success, so a retry redoes only what failed)."""
    if len(steps) <= 1 or parallel <= 1:
        for step in steps:
            step()
        return
    with ThreadPoolExecutor(min(len(steps), parallel), thread_name_prefix="open") as pool:
        futures = [pool.submit(logs.carried(step)) for step in steps]
    errors = [e for f in futures if (e := f.exception()) is not None]
    if errors:
        raise errors[0]


class Lifecycle:
    def __init__(self, services: Services) -> None:
        self.sv = services

    # -- entry point -----------------------------------------------------------------------------
    def handle_case_event(self, event: CaseEvent) -> None:
        with logs.about_case(event.case.number):
            self._handle_case_event(event)

    def _handle_case_event(self, event: CaseEvent) -> None:
        snap, occurred_at = event.case, event.occurred_at
        if event.reread:
            # Outbound payloads are the record at send time, arrive out of order and are unsigned: only the CRM's
            # answer counts, its state and its modification time (a payload claiming a far-future change would
            # otherwise make every real change look older and be ignored).
            source = self.sv.crm_named(event.crm)
            if source is None:
                raise PermanentJobError(f"event {event.event_id} is to be re-read from {event.crm}, which is not "
                                        "configured here")  # fmt: skip
            fresh = source.read_case(snap.crm_id)
            if fresh is None:
                log.warning("no longer exists in the CRM (%s); event %s ignored", snap.crm_id, event.event_id)
                return
            snap, occurred_at = fresh, fresh.modified_at or occurred_at
        closing = snap.is_closed if event.reread else (event.type == "case.closed" or snap.is_closed)
        kind = event.type

        with self.sv.db.session() as s:
            platform = self.sv.platform_for(snap.platform)
            up = cases.upsert_case(s, snap, occurred_at, platform, event.crm)
            case = up.case
            assert case.id is not None
            room = cases.room_of(s, case.id)
            if not up.applied:
                s.rollback()
                log.info("event %s is older than the last applied; ignored", event.event_id)
                return
            if room and room.state == RoomState.CLOSED:
                s.commit()
                log.info("room is closed; event %s does not reopen it", event.event_id)
                return
            if event.reread:
                # A CRM that only says "this case changed" (Salesforce): what happened follows from the record.
                kind = "case.closed" if closing else "case.opened" if up.first else "case.updated"
            if up.first:
                log.info("opened (%s, %s): a room on %s follows", snap.status or "no status", snap.subject, platform)
            timeline.record(
                s,
                case.id,
                timeline.Kind.CASE,
                f"{kind} ({snap.status or 'no status'})",
                at=occurred_at,
                data={"event_id": event.event_id, "type": kind},
                source_key=f"case-event:{event.event_id}",
            )
            previous = up.previous_engineer
            # From a queue (no engineer yet) to a user is a handoff too: the case was taken.
            taken = previous is None and not up.first
            moved = taken or (previous is not None and snap.engineer is not None
                              and previous.email.lower() != snap.engineer.email.lower())  # fmt: skip
            rotation = None
            if not closing and snap.engineer and moved:
                rotation = {
                    "crm_id": snap.crm_id,
                    "number": snap.number,
                    "event_id": event.event_id,
                    "to": asdict(snap.engineer),
                    "previous": asdict(previous) if previous else None,
                }
                self.sv.queue.enqueue(s, ROTATE_KIND, rotation, key=f"handoff:{event.event_id}",
                                      lane=cases.lane(snap.crm_id))  # fmt: skip
            s.commit()

        if closing:
            ensure_closed(self.sv, snap.crm_id)
            return
        self.ensure_open(snap.crm_id)
        if rotation:
            # Done now so the card precedes whatever the case does next; the queued job finds it done.
            self.rotate(rotation)

    # -- opening -----------------------------------------------------------------------------------
    def ensure_open(self, crm_id: str) -> None:
        sv = self.sv
        with sv.db.session() as s:
            case = cases.get_case(s, crm_id)
            assert case is not None and case.id is not None
            room = cases.ensure_room_row(s, case, case.platform)
            if cases.winding_down(room):
                return
            if room.state == RoomState.FAILED:
                cases.set_state(s, room, RoomState.OPENING, sv.clock(), "retrying")
            s.commit()
            case_id, platform = case.id, room.platform
        messenger = sv.messenger(platform)

        spec = RoomSpec(key=case.number, title=copy.room_title(case.number, case.subject), topic=case.subject,
                        crm_link=case.link)  # fmt: skip
        if not room.room_id:
            fresh = not cases.step_done(room, "room_requested")
            if fresh:
                self._mark(case, "room_requested")  # from now on a retry must look for a room made by this try
            ref = messenger.ensure_room(replace(spec, fresh=fresh))
            with sv.db.session() as s:
                room = cases.ensure_room_row(s, case, platform)
                room.room_id, room.url, room.name = ref.room_id, ref.url, ref.name
                s.add(room)
                timeline.record(
                    s,
                    case_id,
                    timeline.Kind.STATE,
                    f"Room created on {platform}: {ref.name or ref.room_id}",
                    at=sv.clock(),
                    data={"room_id": ref.room_id, "url": ref.url},
                )
                s.commit()
        assert room.room_id is not None
        room_id = room.room_id

        # Preparing the room and the two invitations do not depend on each other: sent together, the opening
        # costs one platform round trip after the room exists instead of three. What the CRM is told (the URL, the
        # similar cases) is not part of the opening: its own jobs, so a CRM that refuses never keeps anyone out.
        steps: list[Callable[[], object]] = []
        if not cases.step_done(room, "room_prepared"):

            def prepare() -> None:
                messenger.prepare_room(room_id, spec)
                self._mark(case, "room_prepared")

            steps.append(prepare)
        member = partial(ensure_member, sv, case_id=case_id, crm_id=crm_id, platform=platform, room_id=room_id)
        if case.customer_email:
            steps.append(partial(member, person=Person(case.customer_email, case.customer_name or ""),
                                 role=Role.CUSTOMER, external=True))  # fmt: skip
        if case.engineer_email:
            person = Person(case.engineer_email, case.engineer_name or "", case.engineer_timezone)
            steps.append(partial(member, person=person, role=Role.ENGINEER))
        together(steps, sv.settings.parallel_calls)

        if not cases.step_done(room, "welcome"):
            bot_posts.say(
                sv,
                case_id,
                platform,
                room.room_id,
                copy.welcome(
                    case.number,
                    case.subject,
                    engineer=case.engineer_name or case.engineer_email,
                    customer=case.customer_name or case.customer_email,
                ),
            )
            self._mark(case, "welcome")

        if not cases.step_done(room, "similar_cases"):
            # Knowledge reuse, once. The customer is in the room, so other customers' words stay out of it:
            # the room gets case numbers and links, the engineers the passages as an internal CRM comment.
            with sv.db.session() as s:
                hits = search.similar(s, case_id, case.subject, case.description, limit=3)
            if hits:
                bot_posts.say(sv, case_id, platform, room.room_id, search.for_room(hits, sv.stable_url))
            with sv.db.session() as s:
                if hits and sv.crm_of(case):
                    details = search.describe(hits, "CaseRoom: similar resolved cases", sv.stable_url)
                    filing.enqueue_comment(s, sv, case, "similar_cases", details)
                room = cases.ensure_room_row(s, case, platform)
                cases.mark_step(s, room, "similar_cases", sv.clock())
                s.commit()

        with sv.db.session() as s:
            room = cases.ensure_room_row(s, case, platform)
            ready = room.state == RoomState.OPENING
            if ready:
                cases.set_state(s, room, RoomState.OPEN, sv.clock())
            if sv.crm_of(case) and not cases.step_done(room, filing.URL_STEP):
                filing.enqueue_url(s, sv, case)
            s.commit()
        if ready:
            took = (utcnow() - case.created_at).total_seconds() * 1000  # wall time: the row's stamp is wall time
            log.info("room ready on %s in %.0f ms: %s", platform, took, sv.stable_url(case.number))

    # -- rotation ----------------------------------------------------------------------------------
    def rotate(self, payload: dict[str, Any]) -> None:
        """Owner changed in the CRM (a ``ROTATE_KIND`` job, queued behind the event in the case's lane): the new
        engineer is in the room (and re-invited if they had left); the handoff card goes to the room, the
        timeline and the CRM once per event."""
        with logs.about_case(payload.get("number")):
            self._rotate(payload)

    def _rotate(self, payload: dict[str, Any]) -> None:
        key = f"handoff:{payload['event_id']}"
        previous = Person(**payload["previous"]) if payload.get("previous") else None
        reason = copy.OWNER_CHANGED if previous else copy.TAKEN_FROM_QUEUE
        handoff = Handoff(payload["crm_id"], Person(**payload["to"]), key, reason, previous, taken=previous is None)
        ensure_handoff(self.sv, handoff)

    # -- failure -----------------------------------------------------------------------------------
    def mark_failed(self, crm_id: str, error: str) -> None:
        with self.sv.db.session() as s:
            case = cases.get_case(s, crm_id)
            if case is None or case.id is None:
                return
            room = cases.room_of(s, case.id)
            if room and room.state not in (RoomState.CLOSED, RoomState.FAILED):
                cases.set_state(s, room, RoomState.FAILED, self.sv.clock(), error[:500])
                s.commit()

    def _mark(self, case: Case, step: str) -> None:
        mark_done(self.sv, case, step)


def mark_done(sv: Services, case: Case, step: str) -> None:
    """Record one step of the case's room as done, in a transaction of its own."""
    with sv.db.session() as s:
        room = cases.ensure_room_row(s, case, case.platform)
        cases.mark_step(s, room, step, sv.clock())
        s.commit()
