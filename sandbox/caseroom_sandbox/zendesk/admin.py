"""``/api/v2`` ticket fields, webhooks and triggers: the account configuration a product writes at setup.

Bodies are checked as strictly as ticket bodies (read-only properties ignored, unknown ones refused). The
Webhooks API is a separate Zendesk service: it answers 400 with an ``errors`` list for bad input, 204 to PUT,
PATCH and DELETE, and pages only by cursor. A trigger PUT that names ``conditions`` or ``actions`` replaces
both (Zendesk: "updating a condition or action ... clears all existing values of both arrays").
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.zendesk.paging import paged
from caseroom_sandbox.zendesk.rules import TRIGGER_SUBSCRIPTION, checked_actions, checked_conditions
from caseroom_sandbox.zendesk.state import FIELD_TYPES, Trigger, Webhook
from caseroom_sandbox.zendesk.tickets import base_of, int_param, json_body
from caseroom_sandbox.zendesk.view import field_json, trigger_json, webhook_json
from caseroom_sandbox.zendesk.wire import invalid, json_response, not_found, now, ulid, webhook_error

if TYPE_CHECKING:
    from caseroom_sandbox.zendesk import ZendeskEmulator

FIELD_KEYS = {"type", "title", "description", "agent_description", "position", "active", "required",
              "collapsed_for_agents", "regexp_for_validation", "title_in_portal", "visible_in_portal",
              "editable_in_portal", "required_in_portal", "tag", "custom_field_options", "key",
              "sub_type_id"}  # fmt: skip
FIELD_READ_ONLY = {"id", "url", "raw_title", "raw_description", "raw_title_in_portal", "created_at", "updated_at",
                   "removable", "creator_user_id", "creator_app_name", "system_field_options"}  # fmt: skip
WEBHOOK_KEYS = {"name", "description", "endpoint", "http_method", "request_format", "status", "subscriptions",
                "authentication", "custom_headers", "signing_secret", "external_source"}  # fmt: skip
WEBHOOK_REQUIRED = ("name", "endpoint", "http_method", "request_format", "status")
WEBHOOK_READ_ONLY = {"id", "created_at", "created_by", "updated_at", "updated_by"}
TRIGGER_KEYS = {"title", "active", "position", "conditions", "actions", "description", "category_id"}
TRIGGER_READ_ONLY = {"id", "url", "raw_title", "created_at", "updated_at", "default"}


def only_known(body: dict[str, Any], known: set[str], read_only: set[str]) -> dict[str, Any]:
    for key in body:
        if key not in known | read_only:
            raise invalid(key, f"{key}: is not a valid property")
    return {k: v for k, v in body.items() if k in known}


def new_secret() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


class Admin:
    def __init__(self, emu: ZendeskEmulator) -> None:
        self.emu = emu
        self.account = emu.account

    def routes(self) -> list[Route]:
        v2 = "/api/v2"
        return [
            Route(f"{v2}/ticket_fields", self.fields, methods=["GET", "POST"]),
            Route(f"{v2}/ticket_fields/{{field_id}}", self.field, methods=["GET", "PUT", "DELETE"]),
            Route(f"{v2}/webhooks", self.webhooks, methods=["GET", "POST"]),
            Route(f"{v2}/webhooks/{{webhook_id}}", self.webhook, methods=["GET", "PUT", "PATCH", "DELETE"]),
            Route(f"{v2}/webhooks/{{webhook_id}}/signing_secret", self.secret, methods=["GET", "POST"]),
            Route(f"{v2}/triggers", self.triggers, methods=["GET", "POST"]),
            Route(f"{v2}/triggers/{{trigger_id}}", self.trigger, methods=["GET", "PUT", "DELETE"]),
        ]

    # -- ticket fields ------------------------------------------------------------------------------
    async def fields(self, request: Request) -> Response:
        base = base_of(request)
        if request.method == "GET":
            with self.account.lock:
                ordered = sorted(self.account.fields.values(), key=lambda f: (f.position, f.id))
                items = [field_json(f, base) for f in ordered]
            return json_response(paged(request, items, "ticket_fields", self.emu.page_size))
        body = only_known(await json_body(request, "ticket_field"), FIELD_KEYS, FIELD_READ_ONLY)
        type_, title = body.pop("type", None), body.pop("title", None)
        if not isinstance(title, str) or not title.strip():
            raise invalid("title", "Title: cannot be blank")
        if type_ not in FIELD_TYPES:
            raise invalid("type", f"Type: {type_!r} is not a valid field type")
        if type_ in ("tagger", "multiselect") and not body.get("custom_field_options"):
            raise invalid("custom_field_options", "Custom field options: must have at least one option")
        f = self.account.add_field(str(type_), title, body)
        return json_response({"ticket_field": field_json(f, base)}, status=201)

    async def field(self, request: Request) -> Response:
        f = self.account.ticket_field(int_param(request, "field_id"))
        if request.method == "DELETE":
            self.account.remove_field(f.id)
            return Response(status_code=204)
        if request.method == "PUT":
            body = only_known(await json_body(request, "ticket_field"), FIELD_KEYS, FIELD_READ_ONLY)
            if "type" in body and body.pop("type") != f.type:
                raise invalid("type", "Type: cannot be changed once the field exists")
            with self.account.lock:
                if "title" in body:
                    title = body.pop("title")
                    if not isinstance(title, str) or not title.strip():
                        raise invalid("title", "Title: cannot be blank")
                    f.title = title
                if "position" in body:
                    f.position = int(body.pop("position"))
                f.props.update(body)
                f.updated_at = now()
        return json_response({"ticket_field": field_json(f, base_of(request))})

    # -- webhooks -----------------------------------------------------------------------------------
    def _hook(self, request: Request) -> Webhook:
        found = self.account.webhooks.get(request.path_params["webhook_id"])
        if found is None:
            raise not_found()
        return found

    @staticmethod
    def _checked_webhook(body: dict[str, Any], partial: bool) -> dict[str, Any]:
        for key in body:
            if key not in WEBHOOK_KEYS | WEBHOOK_READ_ONLY:
                raise webhook_error(400, "InvalidInput", f"{key} is not a webhook property", f"/webhook/{key}")
        out = {k: v for k, v in body.items() if k in WEBHOOK_KEYS}
        for key in () if partial else WEBHOOK_REQUIRED:
            if not out.get(key):
                raise webhook_error(400, "InvalidInput", f"{key} is required", f"/webhook/{key}")
        enums = {"http_method": ("GET", "POST", "PUT", "PATCH", "DELETE"),
                 "request_format": ("json", "xml", "form_encoded"), "status": ("active", "inactive")}  # fmt: skip
        for key, allowed in enums.items():
            if key in out and out[key] not in allowed:
                raise webhook_error(400, "InvalidInput", f"{key} must be one of {', '.join(allowed)}",
                                    f"/webhook/{key}")  # fmt: skip
        if "endpoint" in out:
            parsed = urlparse(str(out["endpoint"]))
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise webhook_error(400, "InvalidInput", "endpoint must be an absolute http(s) URL",
                                    "/webhook/endpoint")  # fmt: skip
        subs = out.get("subscriptions", [])
        if not isinstance(subs, list) or not all(isinstance(s, str) for s in subs):
            raise webhook_error(400, "InvalidInput", "subscriptions must be an array of strings",
                                "/webhook/subscriptions")  # fmt: skip
        if TRIGGER_SUBSCRIPTION in subs and len(subs) > 1:
            raise webhook_error(400, "InvalidInput", f"{TRIGGER_SUBSCRIPTION} cannot be combined with event types",
                                "/webhook/subscriptions")  # fmt: skip
        return out

    async def webhooks(self, request: Request) -> Response:
        if request.method == "GET":
            with self.account.lock:
                hooks = sorted(self.account.webhooks.values(), key=lambda w: w.id)
            q = request.query_params
            if "filter[status]" in q:
                hooks = [w for w in hooks if w.status == q["filter[status]"]]
            if "filter[name_contains]" in q:
                hooks = [w for w in hooks if q["filter[name_contains]"].lower() in w.name.lower()]
            items = [webhook_json(w) for w in hooks]
            return json_response(paged(request, items, "webhooks", self.emu.page_size, cursor_only=True))
        if "clone_webhook_id" in request.query_params:
            source = self.account.webhooks.get(request.query_params["clone_webhook_id"])
            if source is None:
                raise not_found()
            values = {k: getattr(source, k) for k in ("name", "endpoint", "http_method", "request_format", "status",
                                                      "subscriptions", "description", "custom_headers")}  # fmt: skip
            values["authentication"] = source.authentication
        else:
            values = self._checked_webhook(await json_body(request, "webhook"), partial=False)
        moment, actor = now(), str(self.emu.agent_id)
        secret = (values.pop("signing_secret", None) or {}).get("secret") or new_secret()
        values.pop("external_source", None)
        hook = Webhook(ulid(), values["name"], values["endpoint"], values["http_method"], values["request_format"],
                       values["status"], list(values.get("subscriptions") or []), secret, moment, actor, moment, actor,
                       values.get("description"), values.get("authentication"),
                       dict(values.get("custom_headers") or {}))  # fmt: skip
        with self.account.lock:
            self.account.webhooks[hook.id] = hook
        return json_response({"webhook": webhook_json(hook)}, status=201)

    async def webhook(self, request: Request) -> Response:
        hook = self._hook(request)
        if request.method == "GET":
            return json_response({"webhook": webhook_json(hook)})
        if request.method == "DELETE":
            with self.account.lock:
                self.account.webhooks.pop(hook.id, None)
            return Response(status_code=204)
        values = self._checked_webhook(await json_body(request, "webhook"), partial=request.method == "PATCH")
        if "subscriptions" in values and (TRIGGER_SUBSCRIPTION in values["subscriptions"]) != (
            TRIGGER_SUBSCRIPTION in hook.subscriptions
        ):
            raise webhook_error(400, "InvalidInput", "a webhook's connection method cannot be changed",
                                "/webhook/subscriptions")  # fmt: skip
        with self.account.lock:
            secret = (values.pop("signing_secret", None) or {}).get("secret")
            if secret:
                hook.secret = secret
            values.pop("external_source", None)
            for key, value in values.items():
                setattr(hook, key, value)
            hook.updated_at, hook.updated_by = now(), str(self.emu.agent_id)
        return Response(status_code=204)

    async def secret(self, request: Request) -> Response:
        hook = self._hook(request)
        if request.method == "POST":
            with self.account.lock:
                hook.secret = new_secret()
        status = 201 if request.method == "POST" else 200
        return json_response({"signing_secret": {"algorithm": "SHA256", "secret": hook.secret}}, status=status)

    # -- triggers -----------------------------------------------------------------------------------
    async def triggers(self, request: Request) -> Response:
        base = base_of(request)
        if request.method == "GET":
            with self.account.lock:
                ordered = sorted(self.account.triggers.values(), key=lambda t: (t.position, t.id))
                items = [trigger_json(t, base) for t in ordered]
            if "active" in request.query_params:
                wanted = request.query_params["active"] == "true"
                items = [t for t in items if t["active"] == wanted]
            return json_response(paged(request, items, "triggers", self.emu.page_size))
        body = only_known(await json_body(request, "trigger"), TRIGGER_KEYS, TRIGGER_READ_ONLY)
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise invalid("title", "Title: cannot be blank")
        if "conditions" not in body:
            raise invalid("conditions", "Conditions: cannot be blank")
        with self.account.lock:
            conditions = checked_conditions(body["conditions"])
            actions = checked_actions(self.account, body.get("actions"))
            moment = now()
            trigger = Trigger(self.account.new_trigger_id(), title, bool(body.get("active", True)),
                              int(body.get("position") or self.account.next_trigger_position()), conditions, actions,
                              moment, moment, body.get("description"), body.get("category_id"))  # fmt: skip
            self.account.triggers[trigger.id] = trigger
        return json_response({"trigger": trigger_json(trigger, base)}, status=201)

    async def trigger(self, request: Request) -> Response:
        with self.account.lock:
            trigger = self.account.triggers.get(int_param(request, "trigger_id"))
        if trigger is None:
            raise not_found()
        if request.method == "DELETE":
            with self.account.lock:
                self.account.triggers.pop(trigger.id, None)
            return Response(status_code=204)
        if request.method == "PUT":
            body = only_known(await json_body(request, "trigger"), TRIGGER_KEYS, TRIGGER_READ_ONLY)
            with self.account.lock:
                if "conditions" in body or "actions" in body:
                    conditions = checked_conditions(body.get("conditions", {}))
                    trigger.actions = checked_actions(self.account, body.get("actions"))
                    trigger.conditions = conditions
                if "title" in body:
                    if not isinstance(body["title"], str) or not body["title"].strip():
                        raise invalid("title", "Title: cannot be blank")
                    trigger.title = body["title"]
                for key in ("active", "position", "description", "category_id"):
                    if key in body:
                        setattr(trigger, key, body[key])
                trigger.updated_at = now()
        return json_response({"trigger": trigger_json(trigger, base_of(request))})

