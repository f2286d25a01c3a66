"""Triggers: the conditions and actions this emulator understands, how they fire after a save, and placeholders.

After every committed ticket save (REST or sandbox), each active trigger is checked once, in ``position`` order,
against the ticket before and after the save; a match runs its actions. The only action is
``notification_webhook`` [webhook_id, body], whose body is rendered now (the ticket as saved) and delivered
later from the outbox thread. A trigger using any other condition or action is refused when it is written,
so a test never relies on a rule the emulator would silently ignore.

Conditions (``all`` must all hold, ``any`` needs one if non-empty):

- ``update_type`` ``is`` ``Create`` | ``Change``
- ``status``, ``priority``: ``is``, ``is_not``, ``less_than``, ``greater_than``, ``changed``, ``not_changed``,
  ``value`` (changed to), ``value_previous`` (changed from), ``not_value``, ``not_value_previous``
- ``assignee_id``, ``group_id``: the same without ``less_than``/``greater_than``; the value is an id, ``""``
  for none, or ``current_user`` (assignee only)
- ``comment_is_public`` ``is`` ``true`` | ``false`` (whether the save added a public comment / a private one)

Placeholders (as text, unescaped: Zendesk renders them into the body as plain text; anything else renders
empty, as Liquid does, and is listed in the delivery's ``unknown_placeholders``):
``ticket.id``, ``ticket.title``, ``ticket.status`` and ``ticket.priority`` (display names: ``Open``,
``On-hold``, ``Normal``), ``ticket.url`` (``{subdomain}.zendesk.com/agent/tickets/{id}``, no protocol),
``ticket.link`` and ``ticket.url_with_protocol`` (with ``https://``), ``ticket.created_at_with_timestamp``
and ``ticket.updated_at_with_timestamp`` (ISO 8601 UTC), ``ticket.tags``, ``ticket.group.name``,
``ticket.external_id``, ``ticket.account``, ``ticket.ticket_field_<id>``, and ``.id``, ``.name``,
``.first_name``, ``.last_name``, ``.email`` of ``ticket.requester``, ``ticket.assignee``,
``ticket.submitter`` and ``current_user``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from caseroom_sandbox.zendesk.state import Account, Saved, Ticket, User, Webhook
from caseroom_sandbox.zendesk.wire import PRIORITIES, STATUS_NAMES, STATUSES, invalid, iso

CHANGE_OPERATORS = {"is", "is_not", "changed", "not_changed", "value", "value_previous", "not_value",
                    "not_value_previous"}  # fmt: skip
ORDERED = CHANGE_OPERATORS | {"less_than", "greater_than"}
CONDITIONS: dict[str, set[str]] = {
    "update_type": {"is"},
    "status": ORDERED,
    "priority": ORDERED,
    "assignee_id": CHANGE_OPERATORS,
    "group_id": CHANGE_OPERATORS,
    "comment_is_public": {"is"},
}
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
TRIGGER_SUBSCRIPTION = "conditional_ticket_events"


@dataclass
class Invocation:
    webhook: Webhook
    trigger_id: int
    ticket_id: int
    body: str
    unknown_placeholders: list[str]


# -- writing triggers -----------------------------------------------------------------------------------
def checked_conditions(raw: Any) -> dict[str, list[dict[str, Any]]]:
    if not isinstance(raw, dict) or set(raw) - {"all", "any"}:
        raise invalid("conditions", "Conditions: must be an object with 'all' and/or 'any' arrays")
    out: dict[str, list[dict[str, Any]]] = {"all": [], "any": []}
    for group in ("all", "any"):
        entries = raw.get(group) or []
        if not isinstance(entries, list):
            raise invalid("conditions", f"Conditions: '{group}' must be an array")
        for c in entries:
            if not isinstance(c, dict) or set(c) - {"field", "operator", "value"}:
                raise invalid("conditions", "Conditions: each condition is {field, operator, value}")
            field, operator, value = c.get("field"), c.get("operator"), c.get("value")
            if field not in CONDITIONS:
                raise invalid("conditions", f"Conditions: the emulator does not support the field {field!r}")
            if operator not in CONDITIONS[str(field)]:
                raise invalid("conditions", f"Conditions: {operator!r} is not a valid operator for {field}")
            _check_value(str(field), str(operator), value)
            out[group].append({"field": field, "operator": operator, "value": value})
    return out


def _check_value(field: str, operator: str, value: Any) -> None:
    if operator in ("changed", "not_changed"):
        return
    allowed: tuple[str, ...] | None = {
        "update_type": ("Create", "Change"), "status": STATUSES, "priority": PRIORITIES,
        "comment_is_public": ("true", "false"),
    }.get(field)  # fmt: skip
    shown = str(value).lower() if isinstance(value, bool) else value
    if allowed is not None and shown not in allowed:
        raise invalid("conditions", f"Conditions: {value!r} is not a valid value for {field}")
    if field in ("assignee_id", "group_id") and not (
        value in ("", None) or (field == "assignee_id" and value == "current_user") or str(value).isdigit()
    ):
        raise invalid("conditions", f"Conditions: {value!r} is not a valid value for {field}")


def checked_actions(account: Account, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise invalid("actions", "Actions: must be a non-empty array")
    out = []
    for a in raw:
        if not isinstance(a, dict) or set(a) != {"field", "value"}:
            raise invalid("actions", "Actions: each action is {field, value}")
        if a["field"] != "notification_webhook":
            raise invalid("actions", f"Actions: the emulator does not support the action {a['field']!r}")
        value = a["value"]
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise invalid("actions", "Actions: notification_webhook takes [webhook_id, body]")
        hook = account.webhooks.get(value[0])
        if hook is None:
            raise invalid("actions", f"Actions: webhook {value[0]} does not exist")
        if TRIGGER_SUBSCRIPTION not in hook.subscriptions:
            raise invalid("actions", f"Actions: webhook {value[0]} is not connected to triggers "
                                     f"(subscriptions must be [\"{TRIGGER_SUBSCRIPTION}\"])")  # fmt: skip
        out.append({"field": "notification_webhook", "value": list(value)})
    return out


# -- firing ---------------------------------------------------------------------------------------------
def fire(account: Account, saved: Saved) -> list[Invocation]:
    """What the active triggers do after ``saved``; called with the account's lock held."""
    out = []
    for trigger in sorted(account.triggers.values(), key=lambda t: (t.position, t.id)):
        if not trigger.active or not _matches(trigger.conditions, saved):
            continue
        for action in trigger.actions:
            hook = account.webhooks.get(action["value"][0])
            if hook is None or hook.status != "active":
                continue
            body, unknown = render(account, saved, action["value"][1])
            out.append(Invocation(hook, trigger.id, saved.ticket.id, body, unknown))
    return out


def _matches(conditions: dict[str, list[dict[str, Any]]], saved: Saved) -> bool:
    every = all(_holds(c, saved) for c in conditions.get("all", []))
    some = conditions.get("any", [])
    return every and (not some or any(_holds(c, saved) for c in some))


def _current(field: str, ticket: Ticket | None) -> str:
    if ticket is None:
        return ""
    value = getattr(ticket, field)
    return "" if value is None else str(value)


def _holds(c: dict[str, Any], saved: Saved) -> bool:
    field, op, value = c["field"], c["operator"], c.get("value")
    if field == "update_type":
        return saved.update_type == value
    if field == "comment_is_public":
        return saved.comment is not None and str(saved.comment.public).lower() == str(value).lower()
    wanted = "" if value is None else str(value)
    if wanted == "current_user":
        wanted = str(saved.actor_id)
    cur, prev = _current(field, saved.ticket), _current(field, saved.before)
    changed = cur != prev
    if op in ("less_than", "greater_than"):
        order = list(STATUSES if field == "status" else PRIORITIES)
        rank = order.index(cur) if cur in order else -1
        return rank < order.index(wanted) if op == "less_than" else rank > order.index(wanted)
    return {
        "is": cur == wanted, "is_not": cur != wanted, "changed": changed, "not_changed": not changed,
        "value": changed and cur == wanted, "value_previous": changed and prev == wanted,
        "not_value": not (changed and cur == wanted), "not_value_previous": not (changed and prev == wanted),
    }[op]  # fmt: skip


# -- placeholders -----------------------------------------------------------------------------------------
def _user_values(prefix: str, user: User | None) -> dict[str, str]:
    if user is None:
        return {f"{prefix}.{k}": "" for k in ("id", "name", "first_name", "last_name", "email")}
    first, _, last = user.name.partition(" ")
    return {f"{prefix}.id": str(user.id), f"{prefix}.name": user.name, f"{prefix}.first_name": first,
            f"{prefix}.last_name": last, f"{prefix}.email": user.email}  # fmt: skip


def values(account: Account, saved: Saved) -> dict[str, str]:
    t = saved.ticket
    host = f"{account.subdomain}.zendesk.com"
    group = account.groups.get(t.group_id) if t.group_id is not None else None
    out = {
        "ticket.id": str(t.id), "ticket.title": t.subject, "ticket.status": STATUS_NAMES[t.status],
        "ticket.priority": t.priority.capitalize() if t.priority else "",
        "ticket.url": f"{host}/agent/tickets/{t.id}", "ticket.link": f"https://{host}/agent/tickets/{t.id}",
        "ticket.url_with_protocol": f"https://{host}/agent/tickets/{t.id}",
        "ticket.created_at_with_timestamp": iso(t.created_at), "ticket.updated_at_with_timestamp": iso(t.updated_at),
        "ticket.tags": " ".join(t.tags), "ticket.group.name": group.name if group else "",
        "ticket.external_id": str(t.extra.get("external_id") or ""), "ticket.account": account.subdomain,
    }  # fmt: skip
    for fid, value in t.custom.items():
        out[f"ticket.ticket_field_{fid}"] = "" if value is None else str(value)
    users = account.users
    out |= _user_values("ticket.requester", users.get(t.requester_id))
    out |= _user_values("ticket.submitter", users.get(t.submitter_id))
    out |= _user_values("ticket.assignee", users.get(t.assignee_id) if t.assignee_id is not None else None)
    out |= _user_values("current_user", users.get(saved.actor_id))
    return out


def render(account: Account, saved: Saved, template: str) -> tuple[str, list[str]]:
    known = values(account, saved)
    unknown: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in known:
            unknown.append(name)
        return known.get(name, "")

    return PLACEHOLDER.sub(substitute, template), unknown
