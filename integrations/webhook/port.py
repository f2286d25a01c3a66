"""The generic webhook's CRM port: what CaseRoom writes back to a CRM becomes signed callback events.

The case's room URL is ``room.ready``, each internal comment (a note, a handoff card, a refused invitation, similar
cases, the closing summary) is ``comment.added``, and each file filed on the case (an upload, the transcript) is kept
by CaseRoom and announced as ``file.filed`` with a signed link. Each call queues its event and returns; the event's
own job delivers it (``events.Sender``).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from bot.events import WEBHOOK_CRM
from bot.models import Case, StoredFile
from bot.services import Services
from bot.sqlutil import insert_ignore
from integrations.crm import CaseSnapshot, PermanentCRMError
from integrations.webhook import events

STORED = "stored:"  # the reference a filed file gets: CaseRoom's own copy


class WebhookCallbacks:
    name = WEBHOOK_CRM
    comment_bytes = 32000  # no limit of the receiver's; this keeps an event a modest POST

    def __init__(self, sv: Services) -> None:
        self.sv = sv

    def read_case(self, crm_id: str) -> CaseSnapshot | None:
        """Nothing to read back: the generic webhook's events carry the whole case each time (they are never
        re-read)."""
        return None

    def write_room_url(self, crm_id: str, url: str) -> None:
        with self.sv.db.session() as s:
            case = self._case(s, crm_id)
            # One id per case and URL: the room's opening asking twice (a retry) is one event.
            event_id = f"evt_ready_{case.id}_{hashlib.sha256(url.encode()).hexdigest()[:12]}"
            self._queue(s, case, event_id, "room.ready", {"url": url})

    def add_comment(self, crm_id: str, text: str) -> None:
        with self.sv.db.session() as s:
            case = self._case(s, crm_id)
            self._queue(s, case, f"evt_{uuid.uuid4().hex}", "comment.added", {"text": text})

    def attach_file(self, crm_id: str, name: str, content: bytes, mime: str) -> str:
        digest = hashlib.sha256(content).hexdigest()
        with self.sv.db.session() as s:
            case = self._case(s, crm_id)
            row = {"case_id": case.id, "name": name[:255], "mime": mime[:255] or "application/octet-stream",
                   "size": len(content), "sha256": digest, "content": content,
                   "stored_at": self.sv.clock()}  # fmt: skip
            new_id = insert_ignore(s, StoredFile, row)
            file_id = new_id if new_id is not None else self._stored(s, case, name[:255], digest)
            # Keyed by the stored copy: a second filing of the same bytes under the same name is one event.
            self._queue(s, case, f"evt_file_{file_id}", "file.filed", {}, attach={"file": file_id})
        return f"{STORED}{file_id}"

    def _queue(self, s: Session, case: Case, event_id: str, type_: str, data: dict[str, Any],
               attach: dict[str, Any] | None = None) -> None:  # fmt: skip
        assert case.id is not None
        event = events.envelope(event_id, type_, case.crm_id, case.number, self.sv.clock(), data)
        events.enqueue(s, self.sv, [events.job(case.id, event, attach)])
        s.commit()

    @staticmethod
    def _case(s: Session, crm_id: str) -> Case:
        found = s.execute(select(Case).where(col(Case.crm_id) == crm_id)).scalar_one_or_none()
        if found is None:
            raise PermanentCRMError(f"no case {crm_id} is known here")
        return found

    @staticmethod
    def _stored(s: Session, case: Case, name: str, digest: str) -> int:
        q = select(col(StoredFile.id)).where(col(StoredFile.case_id) == case.id, col(StoredFile.name) == name,
                                             col(StoredFile.sha256) == digest)  # fmt: skip
        return int(s.execute(q).scalar_one())
