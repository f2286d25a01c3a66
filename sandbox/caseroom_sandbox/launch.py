"""Start the four emulators (and, asked, a mail server) for `make run` / `caseroom sandbox` and say how CaseRoom
reaches them.

``start(public_url)`` returns the running sandbox: its environment overrides (base URLs, tokens, secrets, the CA
bundle), a stop function and the lines that tell the operator what runs where. CaseRoom itself runs unchanged: it
only sees different base URLs and credentials.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from caseroom_sandbox.server import ServerThread, free_port

if TYPE_CHECKING:
    from caseroom_sandbox.zendesk import ZendeskEmulator
    from integrations.zendesk.setup import Done

ORG_ID = "00D000000000001EAA"
PEOPLE = [
    ("ada@support.example", "Ada Lovelace", "Europe/Amsterdam"),
    ("kenji@support.example", "Kenji Sato", "Asia/Tokyo"),
    ("maria@support.example", "Maria Lopez", "America/Los_Angeles"),
]
CUSTOMER = ("carol@customer.example", "Carol Customer")
# Reply addresses are case-<number>+<token>@MAIL_DOMAIN; the sandbox's mail clients hand such mail to CaseRoom's
# listener, as an MX record would.
MAIL_DOMAIN = "reply.sandbox.example"
# A customer organisation that keeps its people out of other orgs' Webex spaces: its people take part by e-mail.
NO_CHAT_DOMAIN = "nochat.example"


class Running(Protocol):
    def stop(self) -> None: ...


@dataclass
class Sandbox:
    public_url: str
    webex: object = None
    slack: object = None
    salesforce: object = None
    zendesk: object = None
    urls: dict[str, str] = field(default_factory=dict)
    crm_users: dict[str, str] = field(default_factory=dict)  # e-mail -> Salesforce User id
    env: dict[str, str] = field(default_factory=dict)
    servers: list[Running] = field(default_factory=list)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def banner(self) -> list[str]:
        """What `caseroom serve` prints about the sandbox it started (rich markup)."""
        lines = ["[bold]Sandbox mode[/bold]: no credentials are set, so CaseRoom talks to local emulators of "
                 "Webex, Slack, Salesforce and Zendesk (a development and evaluation tool, not the real clouds)."]
        lines += [f"  {name.title():<11} {url}   (state: {url}/_sandbox/state)" for name, url in self.urls.items()]
        lines.append(f"  Sandbox CRM webhook secret (sign POST {self.public_url}/webhooks/crm with it): "
                     f"{self.env.get('CASEROOM_CRM_WEBHOOK_SECRET', '')}")  # fmt: skip
        if "mail" in self.urls:
            lines.append(f"  Mail: CaseRoom's mail is kept by a local SMTP server ({self.env['CASEROOM_SMTP_URL']}); "
                         f"replies to *@{MAIL_DOMAIN} reach CaseRoom's listener on "
                         f"{self.env['CASEROOM_MAIL_LISTEN']}. Customers at {NO_CHAT_DOMAIN} have no chat "
                         "platform and take part by e-mail.")  # fmt: skip
        lines.append("  The dashboard's Sandbox page opens, rotates and closes cases, plays the people in rooms and "
                     "shows the mail sent, to reply as its recipient.")  # fmt: skip
        lines.append("  To watch a whole case go by, run [bold]caseroom demo[/bold] (it starts its own instance).")
        return lines


def launch(public_url: str, *, seed: int | None = None, mail: bool = False) -> Sandbox:
    """Start the emulators; with ``mail``, also a mail server CaseRoom sends to and whose control API replies."""
    from caseroom_sandbox.salesforce import SalesforceEmulator
    from caseroom_sandbox.slack import SlackEmulator
    from caseroom_sandbox.webex import WebexEmulator
    from caseroom_sandbox.zendesk import ZendeskEmulator

    sb = Sandbox(public_url)
    crm_secret = secrets.token_urlsafe(24)
    webex_secret = secrets.token_urlsafe(24)
    slack_secret = secrets.token_urlsafe(24)

    webex = WebexEmulator(seed=seed)
    server = ServerThread(webex.app).start()
    sb.servers.append(server)
    for email, name, _tz in PEOPLE:
        webex.add_person(email, name)
    webex.store.closed_domains.add(NO_CHAT_DOMAIN)
    sb.webex, sb.urls["webex"] = webex, server.url

    slack = SlackEmulator(signing_secret=slack_secret, seed=seed)
    server = ServerThread(slack.app).start()
    sb.servers.append(server)
    for email, name, _tz in PEOPLE:
        slack.add_user(email, name)
    slack.add_user(CUSTOMER[0], CUSTOMER[1], external=True)
    slack.set_request_urls(events=f"{public_url}/slack/events", commands=f"{public_url}/slack/events")
    sb.slack, sb.urls["slack"] = slack, server.url

    salesforce = SalesforceEmulator(org_id=ORG_ID, seed=seed, outbound_url=f"{public_url}/webhooks/salesforce")
    server = salesforce.start()
    sb.servers.append(server)
    for email, name, tz in PEOPLE:
        sb.crm_users[email] = salesforce.add_user(email, name, timezone=tz)
    sb.salesforce, sb.urls["salesforce"] = salesforce, server.url

    zendesk = ZendeskEmulator(subdomain="caseroom", seed=seed)
    server = zendesk.start()
    sb.servers.append(server)
    for email, name, tz in PEOPLE:
        zendesk.add_user(name, email, role="agent", iana_time_zone=tz)
    zendesk.add_user(CUSTOMER[1], CUSTOMER[0])
    sb.zendesk, sb.urls["zendesk"] = zendesk, server.url

    sb.env = {
        "CASEROOM_CRM_WEBHOOK_SECRET": crm_secret,
        "WEBEX_BASE_URL": f"{sb.urls['webex']}/v1/",
        "WEBEX_ACCESS_TOKEN": webex.bot_token,
        "WEBEX_WEBHOOK_SECRET": webex_secret,
        "SLACK_API_URL": f"{sb.urls['slack']}/api/",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack_secret,
        "SALESFORCE_INSTANCE_URL": sb.urls["salesforce"],
        "SALESFORCE_ACCESS_TOKEN": salesforce.access_token,
        "SALESFORCE_ORG_ID": ORG_ID,
        "REQUESTS_CA_BUNDLE": str(salesforce.tls.bundle_path),
        "CASEROOM_SANDBOX": "true",
    }
    if webex.observer_token:
        sb.env["WEBEX_OBSERVER_TOKEN"] = webex.observer_token
    _register_webex_webhooks(sb, webex_secret)
    sb.env.update(set_up_zendesk(zendesk, sb.urls["zendesk"], public_url)[0])
    if mail:
        _start_mail(sb)
    return sb


def _start_mail(sb: Sandbox) -> None:
    """A mail server that keeps what CaseRoom sends, and its control API (the recipients' mail clients)."""
    from caseroom_sandbox.mail_control import MailControl
    from caseroom_sandbox.mailbox import Mailbox

    mailbox = Mailbox()
    smtp_url = mailbox.start()
    sb.servers.append(mailbox)
    control = MailControl(mailbox)
    listen_port = free_port()  # CaseRoom's listener binds it when it starts
    control.route(MAIL_DOMAIN, "127.0.0.1", listen_port)
    server = ServerThread(control.app).start()
    sb.servers.append(server)
    sb.urls["mail"] = server.url
    sb.env.update(CASEROOM_SMTP_URL=smtp_url, CASEROOM_MAIL_DOMAIN=MAIL_DOMAIN,
                  CASEROOM_MAIL_LISTEN=f"127.0.0.1:{listen_port}", CASEROOM_SANDBOX_MAIL_URL=server.url)  # fmt: skip


def _register_webex_webhooks(sb: Sandbox, secret: str) -> None:
    """What an admin does with `caseroom webex setup`, done for them."""
    from integrations.webex.client import api
    from integrations.webex.inbound import PATH
    from integrations.webex.setup import sync

    base_url = sb.env["WEBEX_BASE_URL"]
    clients = {"bot": api(sb.env["WEBEX_ACCESS_TOKEN"], base_url)}
    if "WEBEX_OBSERVER_TOKEN" in sb.env:
        clients["observer"] = api(sb.env["WEBEX_OBSERVER_TOKEN"], base_url)
    sync(clients, f"{sb.public_url}{PATH}", secret)


def set_up_zendesk(emu: ZendeskEmulator, emu_url: str, caseroom_url: str) -> tuple[dict[str, str], Done]:
    """What an admin does with `caseroom zendesk setup`, done for them (the field, the webhook and the trigger):
    the ZENDESK_* environment CaseRoom then runs with, and what setup made."""
    from integrations.zendesk.client import client
    from integrations.zendesk.inbound import PATH
    from integrations.zendesk.settings import ZendeskSettings
    from integrations.zendesk.setup import sync

    creds = {"url": emu_url, "email": emu.agent_email, "api_token": emu.api_token}
    done = sync(client(ZendeskSettings.model_validate(creds)), f"{caseroom_url}{PATH}")
    env = {f"ZENDESK_{k.upper()}": v for k, v in creds.items()}
    env.update(ZENDESK_WEBHOOK_SECRET=done.secret, ZENDESK_ROOM_URL_FIELD_ID=str(done.field_id))
    return env, done


def start(public_url: str) -> Sandbox:
    """The ``caseroom.sandbox`` entry point used by `caseroom serve` when no credentials are set. Mail goes to the
    sandbox's mail server unless the operator named their own (``CASEROOM_SMTP_URL``)."""
    sb = launch(public_url, seed=int(os.environ.get("CASEROOM_SANDBOX_SEED", "0")) or None,
                mail=not os.environ.get("CASEROOM_SMTP_URL"))
    # Both chat platforms are emulated: cases that name none open on Webex unless the operator chose.
    if not os.environ.get("CASEROOM_DEFAULT_PLATFORM"):
        sb.env["CASEROOM_DEFAULT_PLATFORM"] = "webex"
    return sb
