"""Sandbox mode only: act as the CRM (open, rotate, close a case) and as the people in a room.

Acting as the CRM happens in the CRM the case belongs to (chosen when it is opened). For the generic webhook it
signs a case event with ``CASEROOM_CRM_WEBHOOK_SECRET`` and sends it through the service's own
``POST /webhooks/crm`` (in process), so it takes exactly the path a real CRM's event takes. For Salesforce and
Zendesk it asks their emulator's control API to change the case or ticket, so the change comes back as that CRM's
own Outbound Message or trigger webhook.
Acting as people asks the platform's local emulator (its ``/_sandbox`` control API) to do it, so the room event
comes back as the platform's real webhook. Nothing here exists outside sandbox mode.

This module is the ``caseroom.dashboard`` entry point itself (a ``bot.dashboard.extensions.DashboardPart``): its
``nav``, ``flash``, ``flash_errors``, ``router`` and ``case_controls``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Form, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic_settings import SettingsConfigDict

from bot import cases
from bot.config import PluginSettings, Settings, http_trust
from bot.crm_webhook import sign
from bot.dashboard import render
from bot.dashboard.auth import Admin
from bot.dashboard.context import Dash
from bot.dashboard.render import Html, tag
from bot.events import WEBHOOK_CRM
from bot.models import Case, Participant, Room
from integrations.salesforce.settings import SalesforceSettings
from integrations.webex.settings import WebexSettings
from integrations.zendesk.crm import PLATFORM_TAGS, ticket_id
from integrations.zendesk.settings import ZendeskSettings

PRIORITIES = ["P1", "P2", "P3", "P4"]
nav = ("/admin/sandbox", "Sandbox")
flash = {
    "sent": "The CRM event was signed and delivered to /webhooks/crm; workers take it from here.",
    "acted": "The emulator carried out the action; its webhook follows shortly.",
    "replied": "The reply went by SMTP to CaseRoom's mail listener; it reaches the room shortly.",
}
flash_errors = {
    "refused": "The webhook refused the event; see the service log.",
    "no-secret": "Set CASEROOM_CRM_WEBHOOK_SECRET to act as the CRM.",
    "no-emulator": "No emulator for this platform is known, so people cannot be played here.",
    "emulator-failed": "The emulator refused the action (is the room still open?).",
    "bad-input": "Some fields were missing or not valid.",
    "no-mailbox": "The sandbox's mail server is not running (mail goes to the CASEROOM_SMTP_URL you set).",
    "mail-refused": "The reply was not taken; the replies below show the mail server's answer.",
}
MAIL_SHOWN = 20  # the newest mails the page lists
OFF = "Sandbox controls exist only in sandbox mode (CASEROOM_SANDBOX=true, or no platform credentials set)."


class SandboxSettings(PluginSettings):
    """What `make run` tells the Sandbox page beyond CaseRoom's own settings."""

    model_config = SettingsConfigDict(env_prefix="CASEROOM_SANDBOX_", env_file=None, extra="ignore")
    mail_url: str | None = None  # the sandbox mail server's control API (caseroom_sandbox.mail_control)


@dataclass(frozen=True)
class Emulator:
    """Where a platform's emulator takes its control calls, found from the API base URL CaseRoom uses."""

    base_url: Callable[[Settings], str]  # the API base URL CaseRoom uses
    production: str  # that URL's default: pointing there means no emulator
    api_suffix: str  # stripped from the base URL to reach the emulator's root


# Slack's emulator is not listed: its control API was still being written when this page was.
EMULATORS = {"webex": Emulator(lambda s: s.section(WebexSettings).base_url, "https://webexapis.com/v1/", "v1/")}


def emulator_root(settings: Settings, platform: str) -> str | None:
    spec = EMULATORS.get(platform)
    if spec is None or not settings.sandbox_mode:
        return None
    base = spec.base_url(settings)
    if base == spec.production or not base.endswith(spec.api_suffix):
        return None
    return base[: -len(spec.api_suffix)].rstrip("/")


def event_body(case: dict[str, Any], type_: str, occurred_at: str) -> bytes:
    return json.dumps(
        {"id": f"sandbox-{uuid.uuid4().hex}", "type": type_, "occurred_at": occurred_at, "case": case}
    ).encode()


def case_json(c: Case, platform: str, engineer: dict[str, Any] | None = None) -> dict[str, Any]:
    current = {"email": c.engineer_email, "name": c.engineer_name or "", "timezone": c.engineer_timezone}
    return {
        "id": c.crm_id,
        "number": c.number,
        "subject": c.subject,
        "description": c.description,
        "status": c.status,
        "priority": c.priority,
        "platform": platform if platform in ("slack", "webex") else None,
        "customer": {"email": c.customer_email, "name": c.customer_name or ""} if c.customer_email else None,
        "engineer": engineer or (current if c.engineer_email else None),
        "link": c.link,
    }


def _person(email: str, name: str, tz: str = "") -> dict[str, Any]:
    return {"email": email.strip(), "name": name.strip() or email.split("@")[0], "timezone": tz.strip() or None}


def case_controls(d: Dash, admin: Admin, case: Case, room: Room | None, people: list[Participant]) -> Html | None:
    """The sandbox forms on a case page (none outside sandbox mode)."""
    if not d.sv.settings.sandbox_mode:
        return None
    closed = room is not None and cases.winding_down(room)
    parts: list[object] = [tag("h2", "Sandbox: act as the CRM")]
    if closed:
        parts.append(tag("p", "The case is closed; nothing reopens it.", class_="muted"))
    else:
        rotate = render.join(
            [
                render.hidden("number", case.number),
                render.hidden("action", "rotate"),
                render.field("New engineer's e-mail", "engineer_email", "kenji@support.example", type_="email",
                             required=True, ident="rotate-email"),
                render.field("Name", "engineer_name", "Kenji Sato", ident="rotate-name"),
                render.field("Time zone", "engineer_timezone", "Asia/Tokyo", ident="rotate-tz"),
            ]
        )  # fmt: skip
        close = render.join([render.hidden("number", case.number), render.hidden("action", "close")])
        parts += [
            render.form("/admin/sandbox/crm", admin.csrf, rotate, "Hand the case over (rotation)"),
            render.form("/admin/sandbox/crm", admin.csrf, close, "Close the case in the CRM"),
        ]
    root = emulator_root(d.sv.settings, room.platform) if room else None
    parts.append(tag("h2", "Sandbox: act as people in the room"))
    if room is None or not room.room_id or closed:
        parts.append(tag("p", "There is no open room to act in.", class_="muted"))
    elif root is None:
        msg = f"No {room.platform} emulator is configured, so people in this room cannot be played from here."
        parts.append(tag("p", msg, class_="muted"))
    else:
        emails = sorted({p.email for p in people} | {e for e in (case.customer_email, case.engineer_email) if e})
        act = render.join(
            [
                render.hidden("number", case.number),
                render.field("As", "email", emails[0] if emails else "", options=emails, ident="act-email"),
                render.field("Do", "action", "message", options=["message", "join", "leave"], ident="act-action"),
                render.field("Message text", "text", "Hello from the sandbox", ident="act-text"),
            ]
        )
        parts.append(render.form("/admin/sandbox/room", admin.csrf, act, "Do it"))
    return render.join(parts)


def router(d: Dash) -> APIRouter:
    r = APIRouter(tags=["dashboard"])
    settings = d.sv.settings

    def off(request: Request, admin: Admin) -> Response:
        return d.page(request, admin, "Sandbox off", tag("p", OFF), status=404)

    def refuse_post(request: Request, csrf: str) -> Response | None:
        """The answer refusing a POST here (not signed in, a bad CSRF token, sandbox mode off), or None."""
        admin = d.guard_post(request, csrf)
        if isinstance(admin, Response):
            return admin
        return None if settings.sandbox_mode else off(request, admin)

    @r.get("/admin/sandbox")
    def sandbox_page(request: Request) -> Response:
        admin = d.gate(request)
        if isinstance(admin, Response):
            return admin
        if not settings.sandbox_mode:
            return off(request, admin)
        number = d.sv.clock().strftime("SBX%y%m%d%H%M%S")
        platforms = sorted(d.sv.messaging) or [d.sv.platform_for(None)]
        crms = crm_choices(settings) or [WEBHOOK_CRM]
        fields = render.join(
            [
                render.hidden("action", "open"),
                render.field("CRM", "crm", crms[0], options=crms),
                render.field("Case number", "number", number, required=True),
                render.field("Subject", "subject", "VPN drops every hour", required=True),
                render.field("Priority", "priority", "P2", options=PRIORITIES),
                render.field("Platform", "platform", platforms[0], options=platforms),
                render.field("Customer e-mail", "customer_email", "carol@customer.example", type_="email"),
                render.field("Customer name", "customer_name", "Carol Customer"),
                render.field("Engineer e-mail", "engineer_email", "ada@support.example", type_="email"),
                render.field("Engineer name", "engineer_name", "Ada Lovelace"),
                render.field("Engineer time zone", "engineer_timezone", "Europe/Amsterdam"),
            ]
        )
        known = [[p, emulator_root(settings, p) or "none"] for p in platforms]
        body = render.join(
            [
                tag("p", "Act as the CRM: Salesforce and Zendesk cases are opened in their emulators, whose own "
                         "webhooks then reach this service; a webhook case's event is signed and delivered to "
                         "/webhooks/crm. Salesforce and Zendesk number cases themselves (the case number below is "
                         "for webhook cases). Rotate or close a case from its page; people in a room are played "
                         "from there too."),
                tag("h2", "Open a case"),
                render.form("/admin/sandbox/crm", admin.csrf, fields, "Open the case"),
                render.table("Emulators people are played through", ["Platform", "Emulator"], known),
                mail_section(settings, admin.csrf),
            ]
        )  # fmt: skip
        return d.page(request, admin, "Sandbox", body)

    @r.post("/admin/sandbox/mail/reply")
    async def reply_as_recipient(request: Request, csrf: str = Form(""), mail: int = Form(-1),
                                 text: str = Form("")) -> Response:  # fmt: skip
        refused = refuse_post(request, csrf)
        if refused is not None:
            return refused
        url = settings.section(SandboxSettings).mail_url
        if not url:
            return _back("", "error=no-mailbox")
        if mail < 0 or not text.strip():
            return _back("", "error=bad-input")
        async with httpx.AsyncClient(timeout=20) as client:
            try:
                resp = await client.post(f"{url}/_sandbox/act/reply", json={"mail": mail, "text": text})
            except httpx.HTTPError:
                return _back("", "error=mail-refused")
        return _back("", "done=replied" if resp.is_success else "error=mail-refused")

    @r.post("/admin/sandbox/crm")
    async def act_as_crm(request: Request, csrf: str = Form(""), action: str = Form(""), number: str = Form(""),
                         subject: str = Form(""), priority: str = Form("P2"), platform: str = Form(""),
                         crm: str = Form(""), customer_email: str = Form(""), customer_name: str = Form(""),
                         engineer_email: str = Form(""), engineer_name: str = Form(""),
                         engineer_timezone: str = Form("")) -> Response:  # fmt: skip
        refused = refuse_post(request, csrf)
        if refused is not None:
            return refused
        choices = crm_choices(settings)
        found = await run_in_threadpool(_load, d, number) if action != "open" else None
        if found is None and crm and crm not in choices:
            return _back(number, "error=bad-input")  # a CRM this deployment does not serve
        where = (found[0].crm or WEBHOOK_CRM) if found else crm or (choices or [WEBHOOK_CRM])[0]
        if where in CRM_ACTS and where in choices:
            # The case lives in an emulated CRM: change it there, so it comes back as that CRM's own webhook.
            act = CRM_ACTS[where]
            try:
                number = await run_in_threadpool(act, settings, action, found[0] if found else None,
                                                 Opening(subject, priority, platform, customer_email, customer_name,
                                                         engineer_email, engineer_name, engineer_timezone))  # fmt: skip
            except (httpx.HTTPError, LookupError):
                return _back(number, "error=refused")
            return _back(number, "done=sent")
        if not settings.crm_webhook_secret:
            return _back(number, "error=no-secret")
        now = d.sv.clock().isoformat()
        if action == "open":
            case: dict[str, Any] = {
                "id": f"SBX-{number.strip()}", "number": number.strip(), "subject": subject, "status": "New",
                "priority": priority, "platform": platform or None,
                "customer": _person(customer_email, customer_name) if customer_email.strip() else None,
                "engineer": _person(engineer_email, engineer_name, engineer_timezone)
                if engineer_email.strip() else None,
            }  # fmt: skip
            body = event_body(case, "case.opened", now)
        else:
            if found is None or action not in ("rotate", "close"):
                return _back(number, "error=bad-input")
            c, room_platform = found
            if action == "rotate":
                engineer = _person(engineer_email, engineer_name, engineer_timezone)
                body = event_body(case_json(c, room_platform, engineer), "case.updated", now)
            else:
                body = event_body({**case_json(c, room_platform), "status": "Closed"}, "case.closed", now)
        status = await _deliver(request, settings, body)
        return _back(number, "done=sent" if status == 200 else "error=refused" if status != 400 else "error=bad-input")

    @r.post("/admin/sandbox/room")
    async def act_as_person(request: Request, csrf: str = Form(""), number: str = Form(""), email: str = Form(""),
                            action: str = Form("message"), text: str = Form("")) -> Response:  # fmt: skip
        refused = refuse_post(request, csrf)
        if refused is not None:
            return refused
        found = await run_in_threadpool(_room, d, number)
        root = emulator_root(settings, found[0]) if found else None
        if found is None or root is None:
            return _back(number, "error=no-emulator")
        room_id = found[1]
        paths = {"message": ("act/message", {"as_email": email, "room_id": room_id, "text": text or "(empty)"}),
                 "join": ("act/join", {"email": email, "room_id": room_id}),
                 "leave": ("act/leave", {"email": email, "room_id": room_id})}  # fmt: skip
        if action not in paths or "@" not in email:
            return _back(number, "error=bad-input")
        path, payload = paths[action]
        async with httpx.AsyncClient(timeout=10, verify=http_trust()) as client:
            try:
                resp = await client.post(f"{root}/_sandbox/{path}", json=payload)
            except httpx.HTTPError:
                return _back(number, "error=emulator-failed")
        return _back(number, "done=acted" if resp.is_success else "error=emulator-failed")

    return r


def mail_section(settings: Settings, csrf: str) -> Html:
    """The mail CaseRoom sent, each with a form to reply as its recipient, and the replies sent."""
    from caseroom_sandbox.launch import NO_CHAT_DOMAIN

    parts: list[object] = [tag("h2", "Mail")]
    url = settings.section(SandboxSettings).mail_url
    if not url:
        parts.append(tag("p", "The sandbox's mail server is not running: CaseRoom's mail goes to the "
                              "CASEROOM_SMTP_URL you set, if any.", class_="muted"))  # fmt: skip
        return render.join(parts)
    parts.append(tag("p", f"People with no chat platform take part by e-mail: here, anyone at {NO_CHAT_DOMAIN} (its "
                          f"organisation keeps its people out of other orgs' Webex spaces), e.g. a Webex case opened "
                          f"for customer dana@{NO_CHAT_DOMAIN}. CaseRoom's mail is kept by the sandbox's mail "
                          "server and listed here; a reply goes by SMTP to CaseRoom's mail listener, quoting the "
                          "mail as a mail client would."))  # fmt: skip
    try:
        with httpx.Client(timeout=5) as client:
            state = client.get(f"{url}/_sandbox/state").raise_for_status().json()
    except (httpx.HTTPError, ValueError):
        parts.append(tag("p", f"The sandbox's mail server at {url} did not answer.", class_="muted"))
        return render.join(parts)
    rows = []
    for mail in reversed(state["mails"][-MAIL_SHOWN:]):
        to = ", ".join(mail["recipients"])
        reply = render.join([render.hidden("mail", mail["id"]),
                             render.field("Reply", "text", "Thanks, that fixed it.", ident=f"reply-{mail['id']}")])
        rows.append([to, mail["subject"], tag("pre", mail["text"]),
                     render.form("/admin/sandbox/mail/reply", csrf, reply, f"Reply as {to}")])  # fmt: skip
    parts.append(render.table(f"Mail CaseRoom sent (newest {MAIL_SHOWN}, newest first)",
                              ["To", "Subject", "Text", "Reply"], rows, empty="No mail sent yet."))  # fmt: skip
    replies = [[r["from"], r["subject"], r["text"], r["answer"]] for r in reversed(state["replies"][-MAIL_SHOWN:])]
    parts.append(render.table("Replies sent from here", ["From", "Subject", "Text", "Mail server's answer"],
                              replies, empty="No replies yet."))  # fmt: skip
    return render.join(parts)


@dataclass(frozen=True)
class Opening:
    """What the sandbox form says about a case to open, or (engineer only) whom to hand it to."""

    subject: str
    priority: str
    platform: str
    customer_email: str
    customer_name: str
    engineer_email: str
    engineer_name: str
    engineer_timezone: str

    def engineer(self) -> dict[str, Any] | None:
        return _person(self.engineer_email, self.engineer_name, self.engineer_timezone) \
            if self.engineer_email.strip() else None  # fmt: skip


def crm_choices(settings: Settings) -> list[str]:
    """The CRMs a sandbox case can be opened in: the emulated ones CaseRoom is configured for, then the webhook."""
    found = [name for name, on in (("salesforce", settings.section(SalesforceSettings).instance_url),
                                   ("zendesk", settings.section(ZendeskSettings).url)) if on]  # fmt: skip
    return found + ([WEBHOOK_CRM] if settings.crm_webhook_secret else [])


SF_PRIORITY = {"P1": "High", "P2": "Medium", "P3": "Low", "P4": "Low"}


def _act_in_salesforce(settings: Settings, action: str, case: Case | None, o: Opening) -> str:
    """Open, rotate or close through the Salesforce emulator's control API; returns the case number."""
    root = str(settings.section(SalesforceSettings).instance_url).rstrip("/")
    with httpx.Client(base_url=f"{root}/_sandbox", verify=http_trust(), timeout=10) as sf:

        def owner() -> dict[str, str]:
            person = o.engineer()
            if person is None:
                return {}
            sf.post("/users", json={"email": person["email"], "name": person["name"],
                                    "timezone": person["timezone"] or "UTC"})  # fmt: skip (idempotent by e-mail)
            return {"owner_email": person["email"]}

        if action == "open":
            body = {"subject": o.subject or "Sandbox case", "priority": SF_PRIORITY.get(o.priority, "Medium"),
                    "contact_email": o.customer_email.strip() or "customer@sandbox.example",
                    "contact_name": o.customer_name.strip() or "Sandbox Customer", **owner()}  # fmt: skip
            r = sf.post("/cases", json=body)
            r.raise_for_status()
            return str(r.json()["CaseNumber"])
        if case is None or action not in ("rotate", "close"):
            raise LookupError(action)
        crm_id = case.crm_id
        r = sf.post(f"/cases/{crm_id}/owner", json=owner()) if action == "rotate" else sf.post(f"/cases/{crm_id}/close")
        r.raise_for_status()
        return case.number


ZD_PRIORITY = {"P1": "urgent", "P2": "high", "P3": "normal", "P4": "low"}
ZD_TAGS = {platform: tag for tag, platform in PLATFORM_TAGS.items()}


def _act_in_zendesk(settings: Settings, action: str, case: Case | None, o: Opening) -> str:
    """Open, rotate or close (solve) a ticket through the Zendesk emulator's control API; returns the case number."""
    root = str(settings.section(ZendeskSettings).url).rstrip("/")
    with httpx.Client(base_url=f"{root}/_sandbox", verify=http_trust(), timeout=10) as zd:

        def assignee() -> dict[str, str]:
            person = o.engineer()
            if person is None:
                return {}
            zd.post("/users", json={"email": person["email"], "name": person["name"], "role": "agent",
                                    "iana_time_zone": person["timezone"] or "Etc/UTC"}).raise_for_status()  # fmt: skip
            return {"assignee_email": person["email"]}

        if action == "open":
            body = {"subject": o.subject or "Sandbox ticket", "priority": ZD_PRIORITY.get(o.priority, "normal"),
                    "requester_email": o.customer_email.strip() or "customer@sandbox.example",
                    "requester_name": o.customer_name.strip() or "Sandbox Customer",
                    "tags": [ZD_TAGS[o.platform]] if o.platform in ZD_TAGS else [], **assignee()}  # fmt: skip
            r = zd.post("/tickets", json=body)
            r.raise_for_status()
            return f"ZD-{r.json()['id']}"
        if case is None or action not in ("rotate", "close"):
            raise LookupError(action)
        change = assignee() if action == "rotate" else {"status": "solved"}
        zd.post(f"/tickets/{ticket_id(case.crm_id)}", json=change).raise_for_status()
        return case.number


CRM_ACTS: dict[str, Callable[[Settings, str, Case | None, Opening], str]] = {
    "salesforce": _act_in_salesforce,
    "zendesk": _act_in_zendesk,
}


def _load(d: Dash, number: str) -> tuple[Case, str] | None:
    with d.sv.db.session() as s:
        case = cases.case_by_number(s, number)
        if case is None or case.id is None:
            return None
        room = cases.room_of(s, case.id)
        return case, room.platform if room else case.platform


def _room(d: Dash, number: str) -> tuple[str, str] | None:
    with d.sv.db.session() as s:
        case = cases.case_by_number(s, number)
        room = cases.room_of(s, case.id) if case and case.id is not None else None
        if room is None or not room.room_id or cases.winding_down(room):
            return None
        return room.platform, room.room_id


async def _deliver(request: Request, settings: Settings, body: bytes) -> int:
    """Through the service's own webhook route, in process: the same verification a CRM's event meets."""
    assert settings.crm_webhook_secret is not None
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-CaseRoom-Timestamp": ts,
               "X-CaseRoom-Signature": sign(settings.crm_webhook_secret.get_secret_value(), ts, body)}  # fmt: skip
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://caseroom.internal") as client:
        resp = await client.post("/webhooks/crm", content=body, headers=headers)
    return resp.status_code


def _back(number: str, query: str) -> Response:
    target = f"/admin/cases/{quote(number.strip(), safe='')}" if number.strip() else "/admin/sandbox"
    return RedirectResponse(f"{target}?{query}", status_code=303)

