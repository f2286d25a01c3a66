"""How every `caseroom` command, the plugins' included, says it cannot go on: one red line on stderr,
``caseroom: <what and why>``, whole whatever the terminal's width, and a Rich markup bracket in it shown as typed."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

err = Console(stderr=True, soft_wrap=True)


def say_error(message: str) -> None:
    err.print(Text(f"caseroom: {message}", style="red"))


def fail(message: str, code: int = 2) -> NoReturn:
    """Say it and exit: 2 for what the command was given (settings, options), 1 for what it found."""
    say_error(message)
    raise typer.Exit(code)
