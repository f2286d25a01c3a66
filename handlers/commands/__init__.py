"""Command families. Importing this package registers every command on ``bot.commands.registry``."""

from handlers.commands import core, handoff, knowledge, people, records

__all__ = ["core", "handoff", "knowledge", "people", "records"]
