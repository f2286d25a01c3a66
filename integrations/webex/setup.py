"""`caseroom webex setup`: register the webhooks CaseRoom needs, idempotently, and remove stale ones."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import requests
import typer
from rich.console import Console
from webexpythonsdk import WebexAPI

from bot.cli_errors import fail
from bot.config import ConfigError, load_settings
from integrations.messaging import PlatformError
from integrations.public_url import NotAWebhookTarget, webhook_target
from integrations.webex.client import api
from integrations.webex.errors import WebexCalls
from integrations.webex.inbound import PATH
from integrations.webex.settings import WebexSettings

app = typer.Typer(help="Webex: webhooks and set-up.", no_args_is_help=True)
console = Console(soft_wrap=True)  # tokens and URLs stay whole, whatever the width
PREFIX = "caseroom"
TOKEN_VARIABLES = {"bot": "WEBEX_ACCESS_TOKEN", "observer": "WEBEX_OBSERVER_TOKEN"}


class SetupError(Exception):
    """Set-up cannot go on; the message says with which token and what Webex answered."""


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


Listings = dict[str, list[Any]]  # each token's registered webhooks, by who holds it ("bot", "observer")


def sync(clients: dict[str, WebexAPI], target: str, secret: str, listed: Listings | None = None) -> list[str]:
    """Make the registered webhooks exactly the wanted ones (``listed``: what ``listings`` already read). Returns
    what was done, a line each."""
    done: list[str] = []
    calls = WebexCalls()  # a one-off set-up, apart from any runtime's pacing and health
    listed = listed if listed is not None else listings(clients)
    for who, client in clients.items():
        with _refused_as_setup_error(who):
            done += _sync_one(calls, who, client, listed[who], target, secret, observer="observer" in clients)
    return done


def listings(clients: dict[str, WebexAPI]) -> Listings:
    calls = WebexCalls()
    listed: Listings = {}
    for who, client in clients.items():
        with _refused_as_setup_error(who):
            listed[who] = _list(calls, client)
    return listed


def _list(calls: WebexCalls, client: WebexAPI) -> list[Any]:
    return calls.call("webhooks.list", lambda: list(client.webhooks.list()))  # the pages read inside the call


def _sync_one(calls: WebexCalls, who: str, client: WebexAPI, existing: list[Any], target: str, secret: str, *,
              observer: bool) -> list[str]:  # fmt: skip
    done: list[str] = []
    keep: set[str] = set()
    for owner, w in wanted(observer):
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


def registered_secret(listed: Listings, target: str) -> str | None:
    """The secret CaseRoom's webhooks to ``target`` already share, if they do: set-up run again without
    WEBEX_WEBHOOK_SECRET keeps it, so the webhooks stay as they are and the service's setting stays right."""
    found = {getattr(h, "secret", None) for hooks in listed.values() for h in hooks
             if (h.name or "").startswith(PREFIX) and h.targetUrl == target}  # fmt: skip
    return found.pop() if len(found) == 1 else None  # none, or several (or one unknown): nothing to keep


@contextmanager
def _refused_as_setup_error(who: str) -> Iterator[None]:
    try:
        yield
    except PlatformError as exc:
        if isinstance(exc.__cause__, requests.ConnectionError | requests.Timeout):
            raise SetupError(f"cannot reach Webex: {exc}") from exc
        raise SetupError(f"{exc} (using the {who} token, {TOKEN_VARIABLES[who]})") from exc


def _same(hook: Any, w: Wanted, target: str, secret: str) -> bool:
    # A listing without the secret cannot prove it matches: the webhook is made again with the secret we know.
    return bool(
        hook.name == w.name and hook.targetUrl == target and hook.resource == w.resource and hook.event == w.event
        and getattr(hook, "secret", None) == secret and hook.status != "disabled"
    )  # fmt: skip


def _create(calls: WebexCalls, client: WebexAPI, w: Wanted, target: str, secret: str) -> Any:
    return calls.call("webhooks.create", lambda: client.webhooks.create(name=w.name, targetUrl=target,
                                                                        resource=w.resource, event=w.event,
                                                                        secret=secret))  # fmt: skip


def _delete(calls: WebexCalls, client: WebexAPI, hook_id: str) -> None:
    calls.call("webhooks.delete", lambda: client.webhooks.delete(hook_id))


@app.command("setup")
def setup(
    public_url: Annotated[str, typer.Option(metavar="URL", help="Where Webex reaches this service (https://...).")],
    secret: Annotated[str | None, typer.Option(
        metavar="SECRET", help="Webhook secret; default: WEBEX_WEBHOOK_SECRET, else the one registered, else new.",
    )] = None,
    allow_http: Annotated[bool, typer.Option(
        "--allow-http", help="Accept an http:// public URL (a local test: Webex would send every event unencrypted).",
    )] = False,
) -> None:
    """Register (idempotently) the webhooks CaseRoom needs, remove stale ones, print the secret."""
    try:
        settings = load_settings().section(WebexSettings)
    except ConfigError as exc:
        fail(str(exc))
    if settings.access_token is None:
        fail("WEBEX_ACCESS_TOKEN is not set: set-up registers the webhooks with the bot's token")
    target = _target(public_url, allow_http=allow_http)
    clients = {"bot": api(settings.access_token.get_secret_value(), settings.base_url)}
    if settings.observer_token:
        clients["observer"] = api(settings.observer_token.get_secret_value(), settings.base_url)
    configured = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    try:
        listed = listings(clients)
        secret = secret or configured or registered_secret(listed, target) or secrets.token_urlsafe(32)
        for line in sync(clients, target, secret, listed):
            console.print(line)
    except SetupError as exc:
        fail(f"webex setup stopped: {exc}")
    if secret != configured:
        console.print(f"\nSet this in CaseRoom's environment:\n  WEBEX_WEBHOOK_SECRET={secret}")


def _target(public_url: str, *, allow_http: bool) -> str:
    """Where the webhooks point: the public URL (checked) and CaseRoom's Webex path."""
    try:
        return webhook_target(public_url, PATH, "Webex", allow_http=allow_http)
    except NotAWebhookTarget as exc:
        fail(str(exc))
