"""`caseroom zendesk setup`: the ticket field, the webhook and the trigger CaseRoom needs, made idempotently.

Each is found by its name (the field's title, the webhook's name, the trigger's title) and created when missing,
updated when it differs from what CaseRoom needs, left alone when it matches: running set-up twice changes
nothing. It prints the field's id and the webhook's signing secret, the two settings CaseRoom then needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from zenpy import Zenpy
from zenpy.lib.api_objects import TicketField, Trigger, Webhook

from bot.cli_errors import fail
from bot.config import ConfigError, load_settings
from integrations.crm import CRMError
from integrations.public_url import NotAWebhookTarget, webhook_target
from integrations.zendesk.client import Connection
from integrations.zendesk.inbound import PATH, TRIGGER_BODY
from integrations.zendesk.settings import ZendeskSettings

app = typer.Typer(help="Zendesk: the ticket field, webhook and trigger CaseRoom needs.", no_args_is_help=True)
console = Console(soft_wrap=True)  # secrets and URLs stay whole, whatever the width

FIELD_TITLE = "CaseRoom room"
WEBHOOK_NAME = "CaseRoom"
TRIGGER_TITLE = "CaseRoom: a ticket was created or updated"


def wanted_field() -> dict[str, Any]:
    # Agents only: the requester has no use for the room's URL on the help-center form.
    return {"type": "text", "title": FIELD_TITLE, "description": "The case room's stable URL (set by CaseRoom)",
            "active": True, "visible_in_portal": False, "editable_in_portal": False}  # fmt: skip


def wanted_webhook(endpoint: str) -> dict[str, Any]:
    return {"name": WEBHOOK_NAME, "status": "active", "endpoint": endpoint, "http_method": "POST",
            "request_format": "json", "subscriptions": ["conditional_ticket_events"]}  # fmt: skip


def wanted_trigger(webhook_id: str) -> dict[str, Any]:
    # Every save of a ticket: CaseRoom re-reads it and works out what changed (opened, assigned, solved).
    saved = [{"field": "update_type", "operator": "is", "value": kind} for kind in ("Create", "Change")]
    return {
        "title": TRIGGER_TITLE,
        "active": True,
        "conditions": {"all": [], "any": saved},
        "actions": [{"field": "notification_webhook", "value": [webhook_id, json.dumps(TRIGGER_BODY)]}],
    }


@dataclass
class Done:
    field_id: int
    webhook_id: str
    trigger_id: int
    secret: str
    changes: list[str] = field(default_factory=list)


def plain(obj: Any) -> Any:
    """A zenpy object (or what it holds) as plain JSON values, to compare with what is wanted."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    return json.loads(json.dumps(obj, default=lambda o: o.to_dict() if hasattr(o, "to_dict") else str(o)))


def differs(have: Any, want: dict[str, Any]) -> list[str]:
    current = plain(have)
    return [k for k, v in want.items() if current.get(k) != v]


def sync(z: Zenpy, endpoint: str) -> Done:
    changes: list[str] = []
    ticket_field = _sync_field(z, changes)
    webhook = _sync_webhook(z, endpoint, changes)
    trigger = _sync_trigger(z, str(webhook.id), changes)
    secret = z.webhooks.show_secret(webhook)
    return Done(int(ticket_field.id), str(webhook.id), int(trigger.id), str(plain(secret)["secret"]), changes)


def _sync_field(z: Zenpy, changes: list[str]) -> Any:
    found = [f for f in z.ticket_fields() if f.title == FIELD_TITLE and f.type == "text"]
    return _sync(z.ticket_fields, TicketField, found, wanted_field(), f"the ticket field {FIELD_TITLE!r}", changes)


def _sync_webhook(z: Zenpy, endpoint: str, changes: list[str]) -> Any:
    want = wanted_webhook(endpoint)
    found = [w for w in z.webhooks.list() if w.name == WEBHOOK_NAME]
    if not found:
        changes.append(f"created the webhook {WEBHOOK_NAME!r} to {endpoint}")
        return z.webhooks.create(Webhook(**want))
    have = found[0]
    stale = differs(have, want)
    if stale:
        changes.append(f"updated the webhook {WEBHOOK_NAME!r} ({', '.join(stale)})")
        z.webhooks.update(have.id, Webhook(**want))  # the signing secret stays: CaseRoom's setting stays right
    return have


def _sync_trigger(z: Zenpy, webhook_id: str, changes: list[str]) -> Any:
    found = [t for t in z.triggers() if t.title == TRIGGER_TITLE]
    return _sync(z.triggers, Trigger, found, wanted_trigger(webhook_id), f"the trigger {TRIGGER_TITLE!r}", changes)


def _sync(api: Any, kind: type, found: list[Any], want: dict[str, Any], what: str, changes: list[str]) -> Any:
    """Create ``want`` when nothing was ``found``, update what differs, or leave it."""
    if not found:
        changes.append(f"created {what}")
        return api.create(kind(**want))
    have = found[0]
    stale = differs(have, want)
    if stale:
        for k in stale:
            setattr(have, k, want[k])
        changes.append(f"updated {what} ({', '.join(stale)})")
        return api.update(have)
    return have


@app.command("setup")
def setup(
    public_url: Annotated[str, typer.Option(metavar="URL", help="Where Zendesk reaches this service (https://...).")],
    allow_http: Annotated[bool, typer.Option(
        "--allow-http", help="Accept an http:// public URL (a local test: Zendesk would send every event unencrypted).",
    )] = False,
) -> None:
    """Create or update (idempotently) the ticket field, webhook and trigger; print the settings to set."""
    try:
        settings = load_settings().section(ZendeskSettings)
    except ConfigError as exc:
        fail(str(exc))
    if not settings.url:
        fail("ZENDESK_URL is not set, with ZENDESK_EMAIL and ZENDESK_API_TOKEN (or ZENDESK_OAUTH_TOKEN) of an admin")
    try:
        endpoint = webhook_target(public_url, PATH, "Zendesk", allow_http=allow_http)
        conn = Connection(settings)
        done = conn.call("set up", lambda z: sync(z, endpoint))
    except NotAWebhookTarget as exc:
        fail(str(exc))
    except CRMError as exc:
        fail(f"zendesk setup stopped: {exc}", code=1)
    for line in done.changes or ["nothing to change: the ticket field, webhook and trigger are as CaseRoom needs"]:
        console.print(line)
    wanted = {"ZENDESK_ROOM_URL_FIELD_ID": str(done.field_id), "ZENDESK_WEBHOOK_SECRET": done.secret}
    have = {"ZENDESK_ROOM_URL_FIELD_ID": str(settings.room_url_field_id or ""),
            "ZENDESK_WEBHOOK_SECRET": settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""}
    missing = [f"  {k}={v}" for k, v in wanted.items() if have[k] != v]
    if missing:
        console.print("\nSet this in CaseRoom's environment:\n" + "\n".join(missing), highlight=False)
