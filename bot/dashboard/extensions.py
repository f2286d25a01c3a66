"""Dashboard pages that other installed distributions add (entry point group ``caseroom.dashboard``).

The sandbox's page lives in the sandbox's own distribution and arrives this way, so the dashboard names no
emulator and a deployment without the sandbox has no trace of it. An entry point names an object (a module will
do) with the attributes of ``DashboardPart``.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fastapi import APIRouter

    from bot.dashboard.auth import Admin
    from bot.dashboard.context import Dash
    from bot.dashboard.render import Html
    from bot.models import Case, Participant, Room

GROUP = "caseroom.dashboard"


class DashboardPart(Protocol):
    nav: tuple[str, str] | None  # (path, label) of its link in the dashboard's navigation, if any
    flash: Mapping[str, str]  # codes its redirects carry in ?done=... and the message each shows
    flash_errors: Mapping[str, str]  # the same for ?error=...

    def router(self, d: Dash) -> APIRouter: ...

    def case_controls(self, d: Dash, admin: Admin, case: Case, room: Room | None,
                      people: list[Participant]) -> Html | None:  # fmt: skip
        """Anything it adds at the foot of a case page (``None``: nothing)."""
        ...


def installed() -> list[DashboardPart]:
    return [ep.load() for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name)]
