"""CRM case events (from any CRM webhook) -> the case-room lifecycle."""

from __future__ import annotations

from bot import cases, lifecycle
from bot.events import CaseEvent
from bot.lifecycle import Lifecycle
from bot.models import Job
from bot.services import Services

KIND = "case.event"
ROTATE_KIND = lifecycle.ROTATE_KIND

lane = cases.lane


def run(sv: Services, job: Job) -> None:
    Lifecycle(sv).handle_case_event(CaseEvent.from_payload(job.payload))


def rotate(sv: Services, job: Job) -> None:
    Lifecycle(sv).rotate(job.payload)


def on_dead(sv: Services, job: Job, error: str) -> None:
    Lifecycle(sv).mark_failed(job.payload["case"]["crm_id"], error)
