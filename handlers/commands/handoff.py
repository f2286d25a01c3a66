"""`/case handoff [email]`: the engineer hands the case over now, to someone named or the next on duty."""

from __future__ import annotations

from bot import copy, shifts
from bot.commands import Invocation, Refused, Registry, Reply, UsageError
from bot.jobs import PermanentJobError
from bot.membership import participant
from bot.shifts.handoff import Handoff, ensure_handoff, holder
from handlers.commands.people import EMAIL
from integrations.crm import Person

family = Registry()  # this module's commands; the runtime merges the families (handlers.commands)


@family.command(
    "handoff",
    usage="/case handoff [email]",
    summary="hand this case over now, to the engineer named or to the next one on duty",
    who="engineer",
    details="Without an address, the case goes to an engineer on duty now in another region, else to the "
    "engineer of the next shift to start (from the follow-the-sun rota). The new engineer is brought into the "
    "room and a handoff card with the open questions, the last customer message and the new files is posted.",
    max_args=1,
)
def handoff(inv: Invocation) -> Reply:
    sv, case, actor = inv.sv, inv.case, inv.request.actor
    assert case.id is not None
    with sv.db.session() as s:
        current = holder(s, case)
        named = inv.args[0].strip("<>").lower() if inv.args else None
        known = participant(s, case.id, named) if named else None
    rota = shifts.rota_for(sv.settings)
    if named is not None:
        if not EMAIL.match(named):
            raise UsageError(f"Not an e-mail address: {named}.")
        listed = rota.person(named) if rota else None
        to = listed or Person(named, known.name if known else "", known.timezone if known else None)
    elif rota is None:
        raise UsageError("No follow-the-sun rota is configured, so name the engineer to hand over to.")
    else:
        try:
            found = shifts.next_engineer(rota, sv.crms.values(), sv.clock(),
                                         besides=current.email if current else None)  # fmt: skip
        except PermanentJobError as exc:
            raise Refused(f"{exc}.") from None
        if found is None:
            raise Refused("nobody else is on duty or due in the rota; name the engineer to hand over to.")
        to = found
    name = to.name or to.email
    if current is not None and current.email.lower() == to.email.lower():
        return Reply(copy.already_holds(name))
    who = actor.name or actor.email or "an engineer"
    # Author, target and time identify the request across retries of its job: one card however often it runs.
    asker = (actor.email or actor.user_id).lower()
    key = f"handoff:command:{case.id}:{asker}:{to.email.lower()}:{inv.request.at.isoformat()}"
    if ensure_handoff(sv, Handoff(case.crm_id, to, key, copy.handed_over_by(who), current)) == "no open room":
        raise Refused("this case's room is not open.")
    return Reply(copy.handoff_done(name))
