"""What CaseRoom files on the CRM case, each item exactly once.

Every CRM artifact is its own step with its own key: each uploaded file, the transcript's HTML and JSON, the summary
comment, a note, and each part of a comment too long for one. A step is recorded as done, with the CRM's reference,
as soon as the CRM has it, so a retry (of the closure, of a note) skips what is done and redoes only what is not.

Uploaded files have one owner: their own job (``FILE_KIND``, keyed by the file). Closure does not file them; it makes
sure every file it knows has that job and waits for those jobs before it writes the transcript and empties the room.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from bot import timeline
from bot.models import Case, CaseFile, CrmWrite, Job, JobStatus
from bot.services import Services
from bot.sqlutil import insert_ignore
from integrations.crm import CRMPort, comment_parts
from integrations.messaging import FileRef

FILE_KIND = "file.to_crm"
# What the room's opening tells the CRM, each by its own job (handlers.crm_writes) rather than inside the opening.
URL_KIND = "crm.room_url"
COMMENT_KIND = "crm.comment"
URL_STEP = "crm_url"  # the room's step once the CRM has the URL


def once(sv: Services, case_id: int, key: str, write: Callable[[], str | None]) -> str:
    """Run ``write`` (one CRM call) unless the step ``key`` of this case is done; the CRM's reference either way.

    Callers run each key in one job lane, so no two writers race for a key; the CRM call and the record of it cannot
    share a transaction, so a crash between the two is the one case in which a step runs again.
    """
    with sv.db.session() as s:
        done = s.execute(
            select(CrmWrite).where(col(CrmWrite.case_id) == case_id, col(CrmWrite.key) == key)
        ).scalar_one_or_none()
    if done is not None:
        return done.ref
    ref = write() or ""
    with sv.db.session() as s:
        insert_ignore(s, CrmWrite, {"case_id": case_id, "key": key, "ref": ref, "done_at": sv.clock()})
        s.commit()
    return ref


def comment(sv: Services, crm: CRMPort, case_id: int, crm_id: str, key: str, text: str) -> int:
    """An internal comment on the case in its CRM, once; a long one as numbered parts, each its own step. How many
    parts."""
    parts = comment_parts(text, crm.comment_bytes)
    for n, part in enumerate(parts, 1):
        once(sv, case_id, f"{key}#{n}", lambda part=part: crm.add_comment(crm_id, part))  # type: ignore[misc]
    return len(parts)


def add_file(s: Session, case_id: int, f: FileRef, *, by: str | None, at: datetime) -> CaseFile | None:
    """Record an uploaded file; its row if this is the first sight of it (live capture or the closure's export).

    A file the platform withholds for good (``blocked``) is announced, never recorded for filing.
    """
    if f.blocked:
        return None
    row = {"case_id": case_id, "platform_file_id": f.file_id, "name": f.name, "size": f.size, "mime": f.mime,
           "uploaded_by": by, "uploaded_at": at}  # fmt: skip
    new_id = insert_ignore(s, CaseFile, row)
    return s.get(CaseFile, new_id) if new_id is not None else None


def take_uploads(s: Session, sv: Services, case: Case, platform: str, files: Sequence[FileRef], *, by: str | None,
                 at: datetime) -> None:  # fmt: skip
    """Record files uploaded in the case's room and give each new one its filing job, in the caller's transaction:
    a file's row and its job exist together or not at all."""
    assert case.id is not None
    for f in files:
        added = add_file(s, case.id, f, by=by, at=at)
        if added is not None and sv.crm_of(case):
            enqueue_file(s, sv, case.id, case.crm_id, platform, added)


def failed_for_good(sv: Services, job: Job, what: str, error: str) -> None:
    """A write to the case's CRM that will not happen without help (its job is dead): on the case's timeline, which
    its dashboard page shows, with the job to replay. ``what`` completes "CaseRoom could not ..."."""
    text = f"CaseRoom could not {what}: {error}. Replay job {job.id} under /admin/jobs."
    with sv.db.session() as s:
        timeline.record(s, job.payload["case_id"], timeline.Kind.ERROR, text, at=sv.clock(), data={"job": job.id},
                        source_key=f"crm-write-failed:{job.id}:{job.attempts}")  # fmt: skip
        s.commit()


def enqueue_url(s: Session, sv: Services, case: Case) -> None:
    """Give the case's room URL its write job, in the caller's transaction (once per case), in a lane of its own:
    a CRM retried with backoff holds back nothing else of the case."""
    assert case.id is not None
    payload = {"case_id": case.id, "crm_id": case.crm_id, "case_number": case.number}
    sv.queue.enqueue(s, URL_KIND, payload, key=url_key(case.id))


def url_key(case_id: int) -> str:
    return f"crm-url:{case_id}"


def enqueue_comment(s: Session, sv: Services, case: Case, key: str, text: str) -> None:
    """An internal comment on the case in its CRM by a job of its own, in the caller's transaction (once per key)."""
    assert case.id is not None
    payload = {"case_id": case.id, "crm_id": case.crm_id, "case_number": case.number, "key": key, "text": text}
    sv.queue.enqueue(s, COMMENT_KIND, payload, key=f"crm-comment:{case.id}:{key}")


def enqueue_file(s: Session, sv: Services, case_id: int, crm_id: str, platform: str, f: CaseFile) -> None:
    """Give an uploaded file its filing job, in the caller's transaction (a second call for the file is a no-op)."""
    sv.queue.enqueue(
        s,
        FILE_KIND,
        {
            "case_id": case_id,
            "crm_id": crm_id,
            "platform": platform,
            "file": {"file_id": f.platform_file_id, "name": f.name, "size": f.size, "mime": f.mime},
        },
        key=file_key(case_id, f.platform_file_id),
        lane=file_key(case_id, f.platform_file_id),
    )


def file_key(case_id: int, file_id: str) -> str:
    return f"file:{case_id}:{file_id}"


def files_in_flight(s: Session, sv: Services, case_id: int, crm_id: str, platform: str) -> tuple[int, datetime | None]:
    """Before closure files the transcript: every unfiled file gets its job; how many of those jobs are still to run,
    and when the next of them is due."""
    unfiled = select(CaseFile).where(CaseFile.case_id == case_id, CaseFile.crm_ref.is_(None))  # type: ignore[arg-type,union-attr]
    keys = []
    for f in s.execute(unfiled).scalars().all():
        enqueue_file(s, sv, case_id, crm_id, platform, f)
        keys.append(file_key(case_id, f.platform_file_id))
    if not keys:
        return 0, None
    waiting = select(func.count(), func.min(Job.run_at)).where(
        Job.key.in_(keys), Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])  # type: ignore[union-attr,attr-defined]
    )
    count, next_due = s.execute(waiting).one()
    return int(count), next_due
