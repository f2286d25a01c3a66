"""`caseroom webex setup`: register the webhooks CaseRoom needs, idempotently, and remove stale ones."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from webexpythonsdk import WebexAPI

from bot.config import ConfigError, load_settings
from integrations.webex.client import api
from integrations.webex.errors import WebexCalls
from integrations.webex.inbound import PATH
from integrations.webex.settings import WebexSettings

app = typer.Typer(help="Webex: webhooks and set-up.", no_args_is_help=True)
console = Console(soft_wrap=True)  # tokens and URLs stay whole, whatever the width
PREFIX = "caseroom"


@dataclass(frozen=True)
class Wanted:
    name: str
    resource: str
    event: str


MESSAGE_EVENTS = ("created", "updated", "deleted")  # new messages, and edits and deletions for the record


def wanted(observer: bool) -> list[tuple[str, Wanted]]:
    """(which token, webhook). Messages come from the observer when there is one: the bot sees mentions only."""
    out = [
        ("bot", Wanted(f"{PREFIX}-memberships-created", "memberships", "created")),
        ("bot", Wanted(f"{PREFIX}-memberships-deleted", "memberships", "deleted")),
        *[("bot", Wanted(f"{PREFIX}-messages-{e}", "messages", e)) for e in MESSAGE_EVENTS],
        ("bot", Wanted(f"{PREFIX}-card-actions-created", "attachmentActions", "created")),  # confirm buttons
    ]
    if observer:
        out += [("observer", Wanted(f"{PREFIX}-observer-messages-{e}", "messages", e)) for e in MESSAGE_EVENTS]
    return out


def sync(clients: dict[str, WebexAPI], target: str, secret: str) -> list[str]:
    """Make the registered webhooks exactly the wanted ones. Returns what was done, a line each."""
    done: list[str] = []
    calls = WebexCalls()  # a one-off set-up, apart from any runtime's pacing and health
    for who, client in clients.items():
        existing = _list(calls, client)
        keep: set[str] = set()
        for owner, w in wanted("observer" in clients):
            if owner != who:
                continue
            match = next((h for h in existing if _same(h, w, target, secret)), None)
            if match is None:
                match = _create(calls, client, w, target, secret)
                done.append(f"created {who}: {w.name} -> {target}")
            else:
                done.append(f"kept    {who}: {w.name}")
            keep.add(match.id)
        for h in existing:
            if h.id not in keep and (h.name or "").startswith(PREFIX):
                _delete(calls, client, h.id)
                done.append(f"removed {who}: {h.name} -> {h.targetUrl} (stale)")
    return done


def _list(calls: WebexCalls, client: WebexAPI) -> list[Any]:
    return calls.call("webhooks.list", lambda: list(client.webhooks.list()))


def _same(hook: Any, w: Wanted, target: str, secret: str) -> bool:
    return bool(
        hook.name == w.name and hook.targetUrl == target and hook.resource == w.resource and hook.event == w.event
        and getattr(hook, "secret", secret) == secret and hook.status != "disabled"
    )  # fmt: skip


def _create(calls: WebexCalls, client: WebexAPI, w: Wanted, target: str, secret: str) -> Any:
    return calls.call("webhooks.create", lambda: client.webhooks.create(name=w.name, targetUrl=target,
                                                                        resource=w.resource, event=w.event,
                                                                        secret=secret))  # fmt: skip


def _delete(calls: WebexCalls, client: WebexAPI, hook_id: str) -> None:
    calls.call("webhooks.delete", lambda: client.webhooks.delete(hook_id))


@app.command("setup")
def setup(
    public_url: Annotated[str, typer.Option(help="Where Webex reaches this service (https://...).")],
    secret: Annotated[str | None, typer.Option(help="Webhook secret; default: WEBEX_WEBHOOK_SECRET or new.")] = None,
) -> None:
    """Register (idempotently) the webhooks CaseRoom needs, remove stale ones, print the secret."""
    try:
        settings = load_settings().section(WebexSettings)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if settings.access_token is None:
        console.print("[red]WEBEX_ACCESS_TOKEN is not set[/red]")
        raise typer.Exit(2)
    configured = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    secret = secret or configured or secrets.token_urlsafe(32)
    clients = {"bot": api(settings.access_token.get_secret_value(), settings.base_url)}
    if settings.observer_token:
        clients["observer"] = api(settings.observer_token.get_secret_value(), settings.base_url)
    target = public_url.rstrip("/") + PATH
    for line in sync(clients, target, secret):
        console.print(line)
    if secret != configured:
        console.print(f"\nSet this in CaseRoom's environment:\n  WEBEX_WEBHOOK_SECRET={secret}")
