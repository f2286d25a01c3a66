"""Integrations plug in through the ``caseroom.plugins`` entry point group, so the core names none of them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

from fastapi import APIRouter

from bot.config import Configurable, Settings
from bot.ingest import Ingest
from bot.jobs import JobQueue
from bot.services import Services
from bot.worker import JobKind
from integrations.crm import CRMPort
from integrations.mailer import MailerPort
from integrations.messaging import MessagingPort

log = logging.getLogger(__name__)

GROUP = "caseroom.plugins"


@dataclass(frozen=True)
class PluginContext:
    settings: Settings
    ingest: Ingest
    queue: JobQueue
    services: Services  # for what must answer inside a request (e.g. a slash command's ack)


@dataclass
class PluginParts:
    messaging: MessagingPort | None = None
    crm: CRMPort | None = None
    routers: list[APIRouter] = field(default_factory=list)
    webhooks: dict[str, str] = field(default_factory=dict)  # route path -> source label of its ack-time metric
    body_limits: dict[str, int] = field(default_factory=dict)  # route path -> its own request size limit, bytes
    scheduled: list[Any] = field(default_factory=list)  # (job kind, interval seconds) pairs for the leader
    job_kinds: dict[str, JobKind] = field(default_factory=dict)  # the plugin's own durable work
    cli: Any = None  # a typer.Typer mounted as `caseroom <plugin name> ...`
    mailer: MailerPort | None = None  # outbound mail for people in rooms by e-mail
    # What serves outside HTTP (an SMTP listener): started with the workers, stopped with them.
    listeners: list[Listener] = field(default_factory=list)


class Listener(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Verdict:
    """One credential or connection tried by ``caseroom check-config --online``: what, whether it works, and what
    was learnt (who the token belongs to) or why not, in one line."""

    subject: str
    ok: bool
    detail: str


class Plugin(Configurable, Protocol):
    """Its ``name``, the chat ``platform`` it adds (None for a CRM) and its own ``settings`` model (validated with
    the core's at start), and the parts it builds. It may also name ``quiet_loggers``: loggers of its SDK that
    write a line per request at INFO, which CaseRoom shows only at debug; and have ``probe(settings) ->
    list[Verdict]``, which tries its credentials against its service (called only when it is configured)."""

    def build(self, ctx: PluginContext) -> PluginParts | None:
        """The plugin's parts, or None when it is not configured (no credentials)."""
        ...


def discover() -> list[Plugin]:
    found: list[Plugin] = []
    for ep in entry_points(group=GROUP):
        found.append(ep.load())
    return found


def quiet_loggers(plugins: Iterable[object]) -> list[str]:
    """The loggers the plugins want heard only at debug."""
    return [name for plugin in plugins for name in getattr(plugin, "quiet_loggers", ())]


class SandboxRun(Protocol):
    """What the ``caseroom.sandbox`` entry point's ``start(public_url)`` returns: a running sandbox."""

    env: dict[str, str]  # what CaseRoom needs to reach it: base URLs, credentials, CA bundle

    def stop(self) -> None: ...

    def banner(self) -> list[str]:
        """Lines (rich markup) that tell the operator what runs where."""
        ...
