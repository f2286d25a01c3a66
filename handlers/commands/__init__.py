"""Command families: each module declares its own; :func:`registry` is what a runtime answers with."""

from bot.commands import Registry
from handlers.commands import core, handoff, knowledge, people, records


def registry() -> Registry:
    """Every built-in command, for one runtime."""
    return Registry.merged(core.family, handoff.family, knowledge.family, people.family, records.family)


__all__ = ["registry"]
