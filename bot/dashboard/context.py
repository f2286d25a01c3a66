"""What every dashboard page works with: the services, the sign-in gate, and the page frame."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Request, Response
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from bot.config import Settings
from bot.dashboard import render
from bot.dashboard.auth import Admin, DashboardAuth
from bot.services import Services

# Flash messages are chosen by code, so nothing a link carries is ever echoed into a page.
FLASH = {
    "replayed": "The job was queued again with a fresh attempt budget.",
    "sent": "The CRM event was signed and delivered to /webhooks/crm; workers take it from here.",
    "acted": "The emulator carried out the action; its webhook follows shortly.",
}
FLASH_ERRORS = {
    "not-replayable": "That job cannot be replayed (only dead or waiting jobs can).",
    "refused": "The webhook refused the event; see the service log.",
    "no-secret": "Set CASEROOM_CRM_WEBHOOK_SECRET to act as the CRM.",
    "no-emulator": "No emulator for this platform is known, so people cannot be played here.",
    "emulator-failed": "The emulator refused the action (is the room still open?).",
    "bad-input": "Some fields were missing or not valid.",
}


@dataclass
class Dash:
    sv: Services
    auth: DashboardAuth
    redact: render.Redactor

    @classmethod
    def build(cls, sv: Services) -> Dash:
        return cls(sv, auth_for(sv), render.Redactor(secret_values(sv.settings)))

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
        code = request.query_params.get("done") or request.query_params.get("error")
        flash = FLASH.get(code or "") or FLASH_ERRORS.get(code or "")
        viewer = render.Viewer(admin.user, admin.csrf, admin.via == "token")
        response = render.page(title, body, viewer=viewer, status=status, flash=flash,
                               flash_error=code in FLASH_ERRORS, redact=self.redact)  # fmt: skip
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
