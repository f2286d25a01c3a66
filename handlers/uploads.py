"""An uploaded file onto the CRM case: its one owner (see ``bot.filing``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot import bot_posts, copy, timeline
from bot.filing import FILE_KIND
from bot.jobs import PermanentJobError
from bot.models import Case, CaseFile, Job
from bot.services import Services
from integrations.messaging import FileRef

KIND = FILE_KIND


def file_to_crm(sv: Services, job: Job) -> None:
    """Download an uploaded file and attach it to the CRM case (423 while scanning retries; 410 is final)."""
    p = job.payload
    with sv.db.session() as s:
        if _case_file(s, p).crm_ref:
            return
        case = s.get(Case, p["case_id"])
        crm = sv.crm_of(case) if case else None
    if crm is None:
        raise PermanentJobError("the case's CRM takes no files from CaseRoom here")
    got = sv.messenger(p["platform"]).download_file(FileRef(**p["file"]))
    ref = crm.attach_file(p["crm_id"], got.name, got.content, got.mime)
    with sv.db.session() as s:
        row = _case_file(s, p)
        row.crm_ref = ref
        s.add(row)
        s.commit()


def file_not_filed(sv: Services, job: Job, error: str) -> None:
    """A file that can never be filed (quarantined, too big, gone): say so in the room and on the timeline."""
    p = job.payload
    name = p["file"]["name"] or "a file"
    text = copy.file_not_filed(name, error)
    with sv.db.session() as s:
        timeline.record(s, p["case_id"], timeline.Kind.ERROR, text, at=sv.clock(), data={"file": p["file"]},
                        source_key=f"file-failed:{p['file']['file_id']}")  # fmt: skip
        s.commit()
    bot_posts.announce(sv, p["case_id"], text)


def _case_file(s: Session, p: dict[str, Any]) -> CaseFile:
    q = select(CaseFile).where(CaseFile.case_id == p["case_id"], CaseFile.platform_file_id == p["file"]["file_id"])
    return s.execute(q).scalar_one()
