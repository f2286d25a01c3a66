"""What the room's opening tells the case's CRM: the room's stable URL and the similar-cases comment.

They are not part of the opening. A CRM that is down or refuses the write (a locked record, a missing field, a
validation rule) must not keep the customer out of a room that exists: the room opens, and each write is its own job,
retried with backoff, in the dead letter when it cannot succeed, and then on the case's timeline and dashboard page.
"""

from __future__ import annotations

from bot import cases, filing
from bot.lifecycle import mark_done
from bot.models import Case, Job
from bot.services import Services

URL_KIND = filing.URL_KIND
COMMENT_KIND = filing.COMMENT_KIND


def write_url(sv: Services, job: Job) -> None:
    p = job.payload
    with sv.db.session() as s:
        case = s.get(Case, p["case_id"])
        room = cases.room_of(s, p["case_id"]) if case else None
    if case is None or room is None or cases.step_done(room, filing.URL_STEP):
        return
    crm = sv.crm_of(case)
    if crm is None:  # a legacy case while several CRMs are configured: its next event says whose it is
        return
    crm.write_room_url(case.crm_id, sv.stable_url(case.number))
    mark_done(sv, case, filing.URL_STEP)


def write_comment(sv: Services, job: Job) -> None:
    p = job.payload
    with sv.db.session() as s:
        case = s.get(Case, p["case_id"])
    crm = sv.crm_of(case) if case else None
    if crm is not None:
        filing.comment(sv, crm, p["case_id"], p["crm_id"], p["key"], p["text"])


def not_written(sv: Services, job: Job, error: str) -> None:
    """A write that will not happen without help: on the case's timeline, which its dashboard page shows."""
    what = "the room's URL" if job.kind == URL_KIND else "a comment"
    filing.failed_for_good(sv, job, f"write {what} to the CRM case", error)
