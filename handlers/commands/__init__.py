"""Command families. Importing this package registers every command on ``bot.commands.registry``."""

from handlers.commands import core, people, records

__all__ = ["core", "people", "records"]
