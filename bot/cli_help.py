"""Help that speaks to people: `caseroom ... --help` shows what a value means, never a Python type.

Typer (0.2x) prints each parameter's Python annotation in help (``--limit <int>``, ``--help <bool>``,
``job_id <int>``). A person needs the value's meaning (``--limit N``, ``--public-url URL``), a choice's values
(``<queued|running|done|dead>``), and nothing at all after a flag or an argument (its name is already there).
``install()`` replaces that one column for every command of the ``caseroom`` CLI, the plugins' included; a
parameter's ``metavar`` still wins.
"""

from __future__ import annotations

from typer import Context
from typer.core import TyperArgument, TyperOption


def option_type(param: TyperOption, ctx: Context) -> str | None:
    if param.metavar is not None:
        return param.metavar
    if param.is_flag or param.count:
        return None
    if param.type_descriptor.is_choice:
        return param.display_type(ctx)
    return (param.name or "value").upper()


def argument_type(param: TyperArgument, ctx: Context) -> str | None:
    return param.display_type(ctx) if param.type_descriptor.is_choice else None


def install() -> None:
    TyperOption.display_type_rich = option_type  # type: ignore[method-assign,assignment]
    TyperArgument.display_type_rich = argument_type  # type: ignore[method-assign,assignment]
