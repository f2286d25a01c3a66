"""The in-room command framework: registry, parsing, generated help, permissions.

A command is a function registered with ``@command(...)``. It receives an :class:`Invocation` and returns a
:class:`Reply`. Replies are private to the asker unless the command changed the room, in which case everyone
sees what happened and who did it.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from bot.events import CommandRequest
from bot.models import Case, Role, Room
from bot.services import Services
from integrations.messaging import Confirmation

Who = Literal["anyone", "participants", "engineer"]

ALLOWED: dict[Who, set[Role]] = {
    "anyone": {Role.ENGINEER, Role.CUSTOMER, Role.MEMBER},
    "participants": {Role.ENGINEER, Role.CUSTOMER},
    "engineer": {Role.ENGINEER},
}
WHO_WORDS: dict[Who, str] = {
    "anyone": "anyone in the room",
    "participants": "the case's engineer or customer",
    "engineer": "the case's engineers",
}


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

    def command(
        self,
        name: str,
        *,
        usage: str,
        summary: str,
        who: Who = "anyone",
        details: str = "",
        min_args: int = 0,
        max_args: int | None = None,
        fast: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            if name in self._commands:
                raise ValueError(f"command {name!r} is registered twice")
            self._commands[name] = CommandSpec(name, usage, summary, who, fn, details, min_args, max_args, fast)
            return fn

        return register

    def get(self, name: str) -> CommandSpec | None:
        return self._commands.get(name)

    def all(self) -> list[CommandSpec]:
        return sorted(self._commands.values(), key=lambda c: c.name)

    def run(self, inv: Invocation) -> Reply:
        spec = self.get(inv.name)
        if spec is None:
            return Reply(f"Unknown command '{inv.name}'. Type /case help to see the commands.")
        if inv.role is None or inv.role not in ALLOWED[spec.who]:
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


registry = Registry()
command = registry.command


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
