"""`caseroom shifts [--tz ZONE]`: the follow-the-sun rota, who is on duty now and next, in your time zone.

Mounted as one command by the ``caseroom.cli`` entry point ``shifts = "bot.shifts_cli:show"``.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.table import Table

from bot import shifts
from bot.cli_errors import fail
from bot.config import ConfigError, load_settings
from bot.shifts.rota import DAY_NAMES, RotaError, Shift, load


def show(
    tz: Annotated[str | None, typer.Option(metavar="ZONE",
                                           help="Show times in this IANA zone (default: this computer's).")] = None,
    at: Annotated[str | None, typer.Option(metavar="WHEN",
                                           help="Look at another instant (ISO 8601, e.g. 2026-10-26T07:00Z).")] = None,
    file: Annotated[str | None, typer.Option(metavar="FILE",
                                             help="The shifts file (default: CASEROOM_SHIFTS_FILE).")] = None,
) -> None:
    """Show the follow-the-sun rota: per region, who is on duty now and who is next."""
    viewer = _zone(tz)
    now = _instant(at)
    rota = _rota(file)
    table = Table("region", "hours (local)", "on duty now", "next shift", "next on duty", title=_title(now, viewer))
    for region in rota.regions:
        current, upcoming = region.shift_at(now), region.next_shift(now)
        table.add_row(
            f"{region.name}\n[dim]{region.tz.key}[/dim]",
            f"{region.start:%H:%M}-{region.end:%H:%M} {_days(region.days)}",
            f"{_who(current)}\n[dim]until {_when(current.end, viewer)}[/dim]" if current else _off(region, now),
            _when(upcoming.start, viewer) if upcoming else "-",
            _who(upcoming) if upcoming else "-",
        )
    # Built per call, not at import, so the width is that of the terminal (or COLUMNS) when the command runs.
    Console().print(table)


def _off(region: shifts.Region, now: datetime) -> str:
    today = now.astimezone(region.tz).date()
    return "[dim]off duty (holiday)[/dim]" if today in region.holidays else "[dim]off duty[/dim]"


def _title(now: datetime, viewer: tzinfo) -> str:
    return f"Follow-the-sun rota at {_when(now, viewer)}"


def _who(shift: Shift) -> str:
    if shift.region.queue:
        return f"first of CRM queue {shift.region.queue!r}"
    person = shift.engineer()
    if person is None:
        return "[yellow]nobody on the roster[/yellow]"
    return f"{person.name} <{person.email}>" if person.name else person.email


def _when(at: datetime, viewer: tzinfo) -> str:
    local = at.astimezone(viewer)
    return f"{local:%a %d %b %H:%M} {local.tzname()}"


def _days(days: frozenset[int]) -> str:
    """``Mon-Fri``, ``Mon,Wed-Fri``, ``every day`` (runs are read within Mon..Sun)."""
    if len(days) == 7:
        return "every day"
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    name = [n.title() for n in DAY_NAMES]
    return ",".join(name[r[0]] if len(r) == 1 else f"{name[r[0]]}-{name[r[-1]]}" for r in runs)


def _zone(name: str | None) -> tzinfo:
    if not name:
        local = datetime.now().astimezone().tzinfo
        return local or UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--tz: {name!r} is not an IANA time zone (e.g. Europe/Amsterdam)")


def _instant(at: str | None) -> datetime:
    if not at:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--at: {at!r} is not an ISO 8601 instant")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rota(file: str | None) -> shifts.Rota:
    try:
        path = file or load_settings().shifts_file
        if not path:
            fail("no rota: set CASEROOM_SHIFTS_FILE or pass --file")
        return load(path)
    except (ConfigError, RotaError) as exc:
        fail(str(exc))
