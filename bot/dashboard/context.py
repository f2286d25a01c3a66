"""What every dashboard page works with: the services, the sign-in gate, and the page frame."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import Request, Response
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from bot.config import Settings
from bot.dashboard import extensions, render
from bot.dashboard.auth import Admin, DashboardAuth
from bot.dashboard.extensions import DashboardPart
from bot.services import Services

# Flash messages are chosen by code, so nothing a link carries is ever echoed into a page.
FLASH = {"replayed": "The job was queued again with a fresh attempt budget."}
FLASH_ERRORS = {"not-replayable": "That job cannot be replayed (only dead or waiting jobs can)."}


@dataclass
class Dash:
    sv: Services
    auth: DashboardAuth
    redact: render.Redactor
    parts: list[DashboardPart] = field(default_factory=list)  # pages other distributions add

    @classmethod
    def build(cls, sv: Services) -> Dash:
        return cls(sv, auth_for(sv), render.Redactor(secret_values(sv.settings)), extensions.installed())

    def gate(self, request: Request) -> Admin | Response:
        return self.auth.gate(request)

    def guard_post(self, request: Request, csrf: str) -> Admin | Response:
        admin = self.auth.gate(request)
        if isinstance(admin, Response):
            return admin
        if not self.auth.csrf_ok(request, admin, csrf):
            body = render.tag("p", "The form was stale or came from another site; reload the page and try again.")
            return render.page("Refused", body, status=403)
        return admin

    def page(self, request: Request, admin: Admin, title: str, body: object, *, status: int = 200) -> Response:
        done, error = request.query_params.get("done") or "", request.query_params.get("error") or ""
        flash = next((m[done] for m in (FLASH, *(p.flash for p in self.parts)) if done in m), None)
        failed = next((m[error] for m in (FLASH_ERRORS, *(p.flash_errors for p in self.parts)) if error in m), None)
        nav = (*render.NAV, *(p.nav for p in self.parts if p.nav))
        viewer = render.Viewer(admin.user, admin.csrf, admin.via == "token", nav)
        response = render.page(title, body, viewer=viewer, status=status, flash=failed or flash,
                               flash_error=failed is not None, redact=self.redact)  # fmt: skip
        return self.auth.finish(request, admin, response)


def auth_for(sv: Services) -> DashboardAuth:
    """The sign-in on the service's clock, so session age and the sign-in brake follow an injected clock."""
    return DashboardAuth(sv.settings, clock=lambda: sv.clock().timestamp())


def secret_values(settings: Settings) -> list[str]:
    """Every secret of the core's settings and the plugins', for pages to redact wherever it turns up."""
    models: list[BaseSettings] = [settings, *settings.sections()]
    values = [v.get_secret_value() for m in models for v in vars(m).values() if isinstance(v, SecretStr)]
    return [v for v in values if v]


def _variables(settings: Settings) -> Iterator[tuple[str, object]]:
    for name, info in Settings.model_fields.items():
        yield info.alias or name, getattr(settings, name)
    for section in settings.sections():
        for name in type(section).model_fields:
            yield type(section).variable(name), getattr(section, name)


def masked_settings(settings: Settings) -> list[tuple[str, str]]:
    """Every setting by its variable name; secrets only say whether they are set, URLs lose their password."""
    rows = []
    for variable, value in _variables(settings):
        if isinstance(value, SecretStr):
            shown = "set (hidden)" if value.get_secret_value() else "not set"
        elif value is None:
            shown = "not set"
        elif isinstance(value, str) and "://" in value and "@" in value.split("://", 1)[1].split("/", 1)[0]:
            scheme, rest = value.split("://", 1)
            shown = f"{scheme}://***@{rest.split('@', 1)[1]}"
        else:
            shown = str(value)
        rows.append((variable, shown))
    return rows
