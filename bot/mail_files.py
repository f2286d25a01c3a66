"""Files shared in a room, reached from a person's mail: one link per file, for that person alone.

A link names the e-mail member, the timeline entry the file came in and its place there, and carries an HMAC of
those keyed by the member's own token, so it cannot be guessed or bent to another file, and it dies with the
membership (leaving, a bounce, closure or a re-invitation, which draws a new token). Opening it asks again what the
digest asked before mailing it: the entry was mailed to this person and their role may still read it; a file the
platform withholds (quarantined) was never recorded for filing and gets no link. The file is fetched from the
platform as the bot, the way it is filed on the CRM case, and served as a download, never rendered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

from sqlalchemy import select
from sqlmodel import Session, col

from bot import cases, mail_members, membership, timeline
from bot.models import CaseFile, MailDigestLine, MailMember, MailState, TimelineEvent
from bot.services import Services
from integrations.messaging import DownloadedFile, FileRef, PermanentPlatformError, TransientPlatformError

PATH = "/mail/files"


class Refused(Exception):
    """Why a link gives no file: an HTTP status and a sentence for the person who clicked it."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def _not_found() -> Refused:
    # One answer for a forged link, someone else's, and one to a file they were never mailed: nothing to probe.
    return Refused(404, "There is no such file, or this link is not yours.")


def links(sv: Services, s: Session, m: MailMember, e: TimelineEvent) -> list[tuple[str, str]]:
    """(name, URL) for each file of an upload entry that can be downloaded, in the entry's order."""
    if m.id is None or e.id is None:
        return []
    base = f"{sv.settings.public_url}{PATH}/{m.id}/{e.id}"
    return [(f.name, f"{base}/{n}?sig={quote(signature(m.token, e.id, n))}")
            for n, f in _downloadable(s, m.case_id, e).items()]  # fmt: skip


def signature(token: str, event_id: int, n: int) -> str:
    mac = hmac.new(token.encode(), f"file:{event_id}:{n}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()  # 144 bits, as many as the token itself


def fetch(sv: Services, member_id: int, event_id: int, n: int, sig: str) -> DownloadedFile:
    """The file a link names, if the link is genuine and its holder may still have it; else :class:`Refused`."""
    with sv.db.session() as s:
        m = s.get(MailMember, member_id)
        if m is None or not hmac.compare_digest(sig.encode(), signature(m.token, event_id, n).encode()):
            raise _not_found()
        if m.state != MailState.ACTIVE:
            raise Refused(410, f"This link no longer works: you are no longer in the case's room ({m.reason}).")
        e = s.get(TimelineEvent, event_id)
        if e is None or e.case_id != m.case_id or not _mailed(s, member_id, event_id):
            raise _not_found()
        people = {p.email: p for p in membership.participants(s, m.case_id)}
        if not mail_members.sees(e, m, mail_members.role_in(people, m.email)):
            raise _not_found()
        f, room = _downloadable(s, m.case_id, e).get(n), cases.room_of(s, m.case_id)
        if f is None or room is None:
            raise _not_found()
        ref = FileRef(f.platform_file_id, f.name, f.size, f.mime)
    try:
        return sv.messenger(room.platform).download_file(ref)
    except TransientPlatformError as exc:
        raise Refused(503, "The file is not ready yet (it may still be being scanned); try again in a minute.",
                      exc.retry_after or 60) from exc  # fmt: skip
    except PermanentPlatformError as exc:
        raise Refused(410, f"The file is no longer available: {exc}") from exc


def _mailed(s: Session, member_id: int, event_id: int) -> bool:
    return s.get(MailDigestLine, (member_id, event_id)) is not None


def _downloadable(s: Session, case_id: int, e: TimelineEvent) -> dict[int, CaseFile]:
    """An upload entry's files that can be downloaded, by their place in it: a file the platform withheld was never
    recorded for filing, so it has no row and no place here."""
    ids = [str(i) for i in (e.data or {}).get("file_ids") or []]
    if e.kind != timeline.Kind.FILE or not ids:
        return {}
    q = select(CaseFile).where(col(CaseFile.case_id) == case_id, col(CaseFile.platform_file_id).in_(ids))
    rows = {f.platform_file_id: f for f in s.execute(q).scalars()}
    return {n: rows[i] for n, i in enumerate(ids) if i in rows}
