"""The in-room command framework: registry, parsing, generated help, permissions.

A command is a function registered with ``@<family>.command(...)`` on its family's :class:`Registry`; the
runtime merges the families into its own registry (``Services.commands``), so what a runtime answers is decided
where it is assembled, not by what happened to be imported. It receives an :class:`Invocation` and returns a
:class:`Reply`. Replies are private to the asker unless the command changed the room, in which case everyone
sees what happened and who did it.

Who may run a command is declared where it is registered (``who=``, required) and checked in one place,
:meth:`Registry.run`; the asker's role comes from ``handlers.command_requests``, which counts only people in the room.
The same declaration decides who may later read the command's echo on the timeline: the echo stores it
(:meth:`Registry.audience`) and :func:`may_read` judges by what is stored.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from bot.events import CommandRequest
from bot.models import Case, Role, Room, TimelineEvent
from integrations.messaging import Confirmation

if TYPE_CHECKING:  # Services holds a Registry
    from bot.services import Services

Who = Literal["members", "participants", "engineer"]

ALLOWED: dict[Who, frozenset[Role]] = {
    "members": frozenset({Role.ENGINEER, Role.CUSTOMER, Role.MEMBER}),
    "participants": frozenset({Role.ENGINEER, Role.CUSTOMER}),
    "engineer": frozenset({Role.ENGINEER}),
}
WHO_WORDS: dict[Who, str] = {
    "members": "anyone in the room",
    "participants": "the case's engineer or customer",
    "engineer": "the case's engineers",
}
# Timeline entries only the support side reads, whatever the command: internal notes.
INTERNAL_KINDS = frozenset({"note"})


class UsageError(Exception):
    """Bad arguments: the reply shows the usage line."""


class Refused(Exception):
    """The asker may not do this; the message says why."""


@dataclass(frozen=True)
class Reply:
    text: str  # empty: nothing more to say (e.g. the asker was shown confirmation buttons)
    public: bool = False  # True: posted for everyone in the room


@dataclass
class Invocation:
    sv: Services
    request: CommandRequest
    case: Case
    room: Room
    role: Role | None  # None: a stranger (never reaches a command)
    name: str
    args: list[str] = field(default_factory=list)
    raw_args: str = ""
    key: str = ""  # this request's own key (the same when its job is retried): what a command does once hangs on it


Handler = Callable[[Invocation], Reply]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    who: Who
    handler: Handler
    details: str = ""
    min_args: int = 0
    max_args: int | None = None
    fast: bool = False  # answers from the database alone: may run inside a platform's 3-second ack


class Registry:
    def __init__(self) -> None:
        self._commands: dict[str, CommandSpec] = {}

    @classmethod
    def merged(cls, *families: Registry) -> Registry:
        """One registry of every family's commands; a name declared twice is refused."""
        out = cls()
        for family in families:
            for spec in family.all():
                out._add(spec)
        return out

    def command(
        self,
        name: str,
        *,
        usage: str,
        summary: str,
        who: Who,
        details: str = "",
        min_args: int = 0,
        max_args: int | None = None,
        fast: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self._add(CommandSpec(name, usage, summary, who, fn, details, min_args, max_args, fast))
            return fn

        return register

    def _add(self, spec: CommandSpec) -> None:
        if spec.name in self._commands:
            raise ValueError(f"command {spec.name!r} is registered twice")
        self._commands[spec.name] = spec

    def get(self, name: str) -> CommandSpec | None:
        return self._commands.get(name)

    def all(self) -> list[CommandSpec]:
        return sorted(self._commands.values(), key=lambda c: c.name)

    def audience(self, name: str) -> Who:
        """Who may read the timeline's echo of ``/case <name> ...``: whoever may run the command.

        So the echo of an engineers' command (``note`` carries the note's text) never reaches a customer. An
        unknown command's echo (its answer is "Unknown command") is everyone's.
        """
        spec = self.get(name)
        return spec.who if spec is not None else "members"

    def addressed(self, text: str) -> bool:
        """Whether words addressed to the bot (an @mention, the bot's name taken off) ask for a command.

        A known command first, or nothing at all (help), is a command; anything else ("here are the logs") is a
        message that happens to mention the bot.
        """
        return self.get(parse(text)[0]) is not None

    def for_role(self, role: Role | None) -> list[CommandSpec]:
        """The commands ``role`` may run, by name."""
        return [c for c in self.all() if role in ALLOWED[c.who]]

    def run(self, inv: Invocation) -> Reply:
        """The one permission check: nobody outside the room, and nobody outside the command's ``who``."""
        if inv.role is None:
            return Reply(NOT_IN_ROOM)
        spec = self.get(inv.name)
        if spec is None:
            return Reply(f"Unknown command '{inv.name}'. Type /case help to see the commands.")
        if inv.role not in ALLOWED[spec.who]:
            return Reply(f"Sorry, /case {spec.name} is for {WHO_WORDS[spec.who]}.")
        n = len(inv.args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            return Reply(f"Usage: {spec.usage}")
        try:
            return spec.handler(inv)
        except UsageError as exc:
            return Reply(f"{exc}\nUsage: {spec.usage}" if str(exc) else f"Usage: {spec.usage}")
        except Refused as exc:
            return Reply(f"Sorry, {exc}")


NOT_IN_ROOM = "Sorry, /case commands are for the people in this case's room."

def may_read(role: Role | None, event: TimelineEvent) -> bool:
    """Whether someone of ``role`` in the room may see this timeline entry (timeline, summary, cards)."""
    if role is None:
        return False
    if event.kind in INTERNAL_KINDS:
        return role == Role.ENGINEER
    if event.kind == "command":
        # Every echo stores its audience (migration 0008 gave the older ones theirs); anything else is the
        # support side's alone.
        audience = (event.data or {}).get("audience")
        return role in ALLOWED.get(audience, ALLOWED["engineer"])  # type: ignore[arg-type]  # stored text
    return True


def confirmation_pending(inv: Invocation, prompt: str) -> Reply | None:
    """Ask the asker to confirm with a button before a destructive step; ``None`` means go ahead.

    Where the platform cannot show buttons the command goes ahead as typed (it was typed on purpose).
    """
    if inv.request.confirmed or inv.room.room_id is None:
        return None
    messenger = inv.sv.messenger(inv.room.platform)
    asked = messenger.ask_confirmation(inv.request.room_id, inv.request.actor.user_id,
                                       Confirmation(prompt, inv.request.text, inv.room.room_id),
                                       reply_token=inv.request.reply_token)  # fmt: skip
    return Reply("") if asked else None


def parse(text: str) -> tuple[str, list[str], str]:
    """``"/case invite a@b.c"`` or ``"invite a@b.c"`` -> ("invite", ["a@b.c"], "a@b.c")."""
    text = text.strip()
    if text.lower().startswith("/case"):
        text = text[5:].strip()
    if not text:
        return "help", [], ""
    name, _, rest = text.partition(" ")
    rest = rest.strip()
    try:
        args = shlex.split(rest)
    except ValueError:  # an unbalanced quote: fall back to plain words rather than refusing
        args = rest.split()
    return name.lower(), args, rest
