"""What each input means. ``job_kinds`` maps every durable job kind to the handler that runs it."""

from __future__ import annotations

from functools import partial

from bot import mail_members, maintenance
from bot.services import Services
from bot.worker import JobKind
from handlers import case_events, command_requests, crm_writes, room_events, shift_handoffs, uploads


def job_kinds(sv: Services) -> dict[str, JobKind]:
    return {
        case_events.KIND: JobKind(partial(case_events.run, sv), partial(case_events.on_dead, sv)),
        case_events.ROTATE_KIND: JobKind(partial(case_events.rotate, sv)),
        room_events.KIND: JobKind(partial(room_events.run, sv)),
        uploads.KIND: JobKind(partial(uploads.file_to_crm, sv), partial(uploads.file_not_filed, sv)),
        crm_writes.URL_KIND: JobKind(partial(crm_writes.write_url, sv), partial(crm_writes.not_written, sv)),
        crm_writes.COMMENT_KIND: JobKind(partial(crm_writes.write_comment, sv), partial(crm_writes.not_written, sv)),
        command_requests.KIND: JobKind(partial(command_requests.run, sv)),
        maintenance.PURGE_KIND: JobKind(lambda _job: maintenance.purge(sv)),
        shift_handoffs.CLOCK_KIND: JobKind(partial(shift_handoffs.clock, sv)),
        shift_handoffs.START_KIND: JobKind(partial(shift_handoffs.start, sv)),
        shift_handoffs.CASE_KIND: JobKind(partial(shift_handoffs.case, sv)),
        mail_members.SEND_KIND: JobKind(lambda job: mail_members.send(sv, job.payload)),
    }
