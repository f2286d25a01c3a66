"""What ``caseroom check-config`` reports: what would run with these settings, and (online) whether each
credential and connection actually works, one line each."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from bot import schema
from bot.config import PluginSettings, Settings
from bot.db import DatabaseUnreachable, display_url, normalise_url, sqlite_file, unreachable
from bot.plugins import Plugin, Verdict

CONNECT_TIMEOUT = 5  # seconds; a check that hangs on a firewalled port is no answer


def configured_platforms(settings: Settings, plugins: Iterable[Plugin]) -> list[str]:
    return sorted(p.platform for p in plugins if p.platform and p.settings and settings.section(p.settings).configured)


def _switches(model: type[PluginSettings]) -> str:
    """The variables that switch a plugin on, as an operator would set them."""
    return " and ".join(model.variable(f) for f in model.switch_on)


def _state(settings: Settings, plugin: Plugin) -> str:
    if plugin.settings is None or settings.section(plugin.settings).configured:
        return "configured"
    wanted = _switches(plugin.settings)
    return f"not configured: set {wanted}" if wanted else "not configured"


def _sandbox(settings: Settings) -> str:
    if not settings.sandbox_mode:
        why = "CASEROOM_SANDBOX=false" if settings.sandbox is False else "credentials are set"
        return f"off ({why})"
    why = "CASEROOM_SANDBOX=true" if settings.sandbox else "no credentials are set"
    if not list(entry_points(group="caseroom.sandbox")):
        return f"on ({why}), but the caseroom-sandbox distribution is not installed: `caseroom serve` will refuse"
    return f"on ({why}): `caseroom serve` starts local emulators of the platforms and the CRM and uses them"


def plan(settings: Settings, plugins: Sequence[Plugin]) -> list[tuple[str, str]]:
    """What would run, as (label, description) rows."""
    default = settings.default_platform
    platforms = [f"{p.platform} ({_state(settings, p)}{', the default' if p.platform == default else ''})"
                 for p in plugins if p.platform]  # fmt: skip
    crms = [f"{p.name} ({_state(settings, p)})" for p in plugins if not p.platform]
    secret = "CASEROOM_CRM_WEBHOOK_SECRET"  # noqa: S105  (the variable's name)
    generic = f"on, signed with {secret}" if settings.crm_webhook_secret else f"off: set {secret}"
    crms.append(f"any CRM through POST /webhooks/crm ({generic})")
    if settings.admin_token or settings.admin_header:
        dashboard = "on: sign in with CASEROOM_ADMIN_TOKEN" if settings.admin_token else ""
        if settings.admin_header:
            dashboard += ("; " if dashboard else "on: ") + f"a proxy's {settings.admin_header} header signs people in"
    else:
        dashboard = "off: set CASEROOM_ADMIN_TOKEN (or CASEROOM_ADMIN_HEADER behind an authenticating proxy)"
    return [
        ("database", display_url(settings.database_url)),
        ("public URL", settings.public_url),
        ("chat platforms", "; ".join(platforms) or "none installed"),
        ("CRMs", "; ".join(crms)),
        ("sandbox", _sandbox(settings)),
        ("workers", f"{settings.workers} job worker threads in `caseroom serve` (CASEROOM_WORKERS)"),
        ("follow the sun", f"rota {settings.shifts_file}" if settings.shifts_file else "off: no CASEROOM_SHIFTS_FILE"),
        ("dashboard", dashboard),
    ]


def nothing_to_serve(settings: Settings, plugins: Sequence[Plugin], *, sandbox: bool = True) -> str | None:
    """Why a process with these settings could open no room, or None when it can. ``sandbox``: whether the
    process would start the sandbox (``caseroom serve`` does; a ``caseroom worker`` never does)."""
    if (sandbox and settings.sandbox_mode) or configured_platforms(settings, plugins):
        return None
    wanted = [f"{p.platform}: {_switches(p.settings) or 'its settings'}" for p in plugins if p.platform and p.settings]
    why = ("the sandbox is off (CASEROOM_SANDBOX=false)" if sandbox
           else "a worker never starts the sandbox (it runs inside `caseroom serve`)")  # fmt: skip
    fix = ", or unset CASEROOM_SANDBOX to try CaseRoom against the local emulators" if sandbox else ""
    return (f"no chat platform is configured and {why}, so no case could get a room; set one platform's "
            f"credentials ({'; '.join(wanted) or 'no platform plugin is installed'}){fix}")  # fmt: skip


def probe(settings: Settings, plugins: Sequence[Plugin]) -> list[Verdict]:
    """Try the database and every configured plugin's credentials."""
    verdicts = [probe_database(settings.database_url)]
    for plugin in plugins:
        check = getattr(plugin, "probe", None)
        if check is None or (plugin.settings is not None and not settings.section(plugin.settings).configured):
            continue
        try:
            verdicts += check(settings)
        except Exception as exc:  # noqa: BLE001  (a plugin's failure is its verdict, not the command's end)
            first = (str(exc).strip().splitlines() or ["no message"])[0]
            verdicts.append(Verdict(plugin.name, False, f"{type(exc).__name__}: {first}"))
    return verdicts


def probe_database(url: str) -> Verdict:
    """Connect (read-only for SQLite: a check creates nothing) and read the schema's revision."""
    parsed = make_url(normalise_url(url))
    engine: Engine
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is None:
            return Verdict("database", True, "SQLite in memory: nothing is kept after the process ends")
        if not path.exists():
            return _future_sqlite(path)
        engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", poolclass=NullPool)
        where = f"SQLite {path}"
    else:
        engine = create_engine(parsed, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT})
        where = display_url(url)
    try:
        status = schema.status(engine)
        version = ".".join(str(n) for n in engine.dialect.server_version_info or ())
    except DatabaseUnreachable as exc:
        return Verdict("database", False, str(exc))
    except SQLAlchemyError as exc:
        return Verdict("database", False, unreachable(url, exc))
    finally:
        engine.dispose()
    usable = status.up_to_date or not status.has_tables
    server = f" (PostgreSQL {version})" if version and engine.dialect.name == "postgresql" else ""
    return Verdict("database", usable, f"{where}{server}: {status.describe()}")


def _future_sqlite(path: Path) -> Verdict:
    folder = path.parent
    if not folder.is_dir():
        return Verdict("database", False, f"SQLite {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        return Verdict("database", False, f"SQLite {path}: the folder {folder} is not writable by this user")
    return Verdict("database", True, f"SQLite {path} does not exist yet; `caseroom serve` creates it")
