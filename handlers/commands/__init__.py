"""Command families. Importing this package registers every command on ``bot.commands.registry``."""

from handlers.commands import core

__all__ = ["core"]
