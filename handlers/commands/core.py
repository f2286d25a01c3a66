"""`/case help` and `/case status`."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.commands import WHO_WORDS, Invocation, Registry, Reply, UsageError
from bot.membership import participants
from bot.models import CaseFile, Role

family = Registry()  # this module's commands; the runtime merges the families (handlers.commands)


@family.command(
    "help",
    usage="/case help [command]",
    summary="list the commands, or explain one",
    who="members",
    details="Without an argument, lists the commands you may run. With one, shows its usage and who may run it.",
    max_args=1,
    fast=True,
)
def help_(inv: Invocation) -> Reply:
    if inv.args:
        spec = inv.sv.commands.get(inv.args[0].lower())
        if spec is None:
            raise UsageError(f"There is no command '{inv.args[0]}'.")
        lines = [f"{spec.usage}", spec.summary[:1].upper() + spec.summary[1:] + ".", f"Who: {WHO_WORDS[spec.who]}."]
        if spec.details:
            lines.append(spec.details)
        return Reply("\n".join(lines))
    lines = ["Commands (type /case help <command> for details):"]
    lines += [f"  {spec.usage} — {spec.summary}" for spec in inv.sv.commands.for_role(inv.role)]
    return Reply("\n".join(lines))


@family.command("status", usage="/case status", summary="the case, the room and who is in it", who="members",
                max_args=0, fast=True)  # fmt: skip
def status(inv: Invocation) -> Reply:
    case, room, sv = inv.case, inv.room, inv.sv
    assert case.id is not None
    with sv.db.session() as s:
        people = participants(s, case.id)
        files = s.execute(select(func.count()).where(CaseFile.case_id == case.id)).scalar_one()  # type: ignore[arg-type]
    age = sv.clock() - case.created_at
    engineers = [p for p in people if p.role == Role.ENGINEER]
    lines = [
        f"Case {case.number}: {case.subject}",
        f"CRM status: {case.status or '-'} · priority {case.priority or '-'} · open for {_age(age.total_seconds())}",
        f"Room: {room.state} on {room.platform}",
        "Engineer: " + (", ".join(p.name or p.email for p in engineers) if engineers else "waiting for assignment"),
        f"Customer: {case.customer_name or case.customer_email or '-'}",
        f"People: {len(people)} ({', '.join(f'{p.name or p.email}: {p.status}' for p in people)})",
        f"Files: {files}",
    ]
    seen = sv.messenger(room.platform).visibility()
    if not seen.sees_all_messages:
        lines.append(f"Note: {seen.limitation}")
    return Reply("\n".join(lines))


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"
