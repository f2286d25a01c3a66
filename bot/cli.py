"""`caseroom ...`: serve, operate the job queue, and whatever subcommands the integrations add."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Annotated

import typer
import uvicorn
from prometheus_client import start_http_server
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot import checks, cli_help, figures, logs, metrics, schema
from bot.cli_errors import err, fail, say_error
from bot.config import ConfigError, Settings, load_settings
from bot.db import Database, DatabaseUnreachable, display_url, existing
from bot.jobs import JobQueue
from bot.logs import LogFormat
from bot.models import JobStatus
from bot.plugins import SandboxRun, discover, quiet_loggers
from bot.runtime import Runtime

log = logging.getLogger("caseroom")
cli_help.install()
app = typer.Typer(help="CaseRoom: a chat room for every support case.", no_args_is_help=True)
jobs_app = typer.Typer(help="Inspect and operate the durable job queue.", invoke_without_command=True)
app.add_typer(jobs_app, name="jobs")
db_app = typer.Typer(help="The database schema: its revision and its migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
# soft_wrap: a line is never broken at the console's width (80 columns when output is not a terminal), so a
# token or a URL printed here can be copied whole.
console = Console(soft_wrap=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc), 2)


def _something_to_serve(settings: Settings, *, sandbox: bool) -> None:
    problem = checks.nothing_to_serve(settings, discover(), sandbox=sandbox)
    if problem:
        fail(problem, 2)


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


LevelOption = Annotated[LogLevel, typer.Option(envvar="CASEROOM_LOG_LEVEL", case_sensitive=False,
                                               help="How much to log; debug adds every HTTP call.")]  # fmt: skip
FormatOption = Annotated[LogFormat, typer.Option(
    envvar="CASEROOM_LOG_FORMAT", case_sensitive=False, help="text for people; json, one object a line, for a pipeline."
)]  # fmt: skip


def _logging(level: LogLevel, fmt: LogFormat) -> None:
    logs.configure(level.value, fmt, quiet_loggers(discover()))


@app.command()
def serve(
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8000,
    log_level: LevelOption = LogLevel.INFO,
    log_format: FormatOption = LogFormat.TEXT,
) -> None:
    """Serve HTTP, run the job workers and the scheduler in one process."""
    _logging(log_level, log_format)
    settings = _settings()
    _something_to_serve(settings, sandbox=True)
    sandbox_stop: Callable[[], None] | None = None
    if settings.sandbox_mode:
        settings, sandbox_stop = _start_sandbox(settings, host, port)
    try:
        runtime = Runtime(settings)
    except Exception:
        if sandbox_stop:
            sandbox_stop()
        raise
    runtime.start_background()
    log.info("CaseRoom serving on http://%s:%d (database: %s, platforms: %s, CRMs: %s)", host, port,
             display_url(settings.database_url),
             ", ".join(sorted(runtime.services.messaging)) or "none",
             ", ".join(sorted(runtime.services.crms)) or "none")  # fmt: skip
    try:
        # log_config=None: uvicorn's lines go through the handler set up above, in the same format.
        uvicorn.run(runtime.app, host=host, port=port, log_level=log_level.value, log_config=None, access_log=False)
    finally:
        runtime.stop()
        if sandbox_stop:
            sandbox_stop()


@app.command()
def worker(
    count: Annotated[int, typer.Option(metavar="N", min=1, help="Worker threads.")] = 2,
    metrics_port: Annotated[int | None, typer.Option(metavar="PORT",
                                                     help="Serve Prometheus metrics on this port.")] = None,
    metrics_host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address for --metrics-port.")] = "127.0.0.1",
    log_level: LevelOption = LogLevel.INFO,
    log_format: FormatOption = LogFormat.TEXT,
) -> None:
    """Run job workers only (no HTTP API), to scale work apart from webhook intake."""
    _logging(log_level, log_format)
    settings = _settings()
    _something_to_serve(settings, sandbox=False)
    settings = settings.model_copy(update={"workers": count})
    runtime = Runtime(settings)
    if metrics_port is not None:
        # Job and API counters live in this process; without this they would never be scraped.
        start_http_server(metrics_port, metrics_host, registry=metrics.REGISTRY)
        log.info("metrics on http://%s:%d/metrics", metrics_host, metrics_port)
    runtime.start_background()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("%d workers running on %s; Ctrl-C to stop", count, display_url(settings.database_url))
    stop.wait()
    runtime.stop()


@jobs_app.callback()
def jobs_list(
    ctx: typer.Context,
    status: Annotated[JobStatus | None, typer.Option(case_sensitive=False, help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(metavar="N", min=1, help="Show at most N jobs, newest first.")] = 50,
) -> None:
    """List jobs, newest first, with how many are in each state (dead letters to look at: --status dead)."""
    if ctx.invoked_subcommand:
        return
    queue = _queue()
    try:
        counts = queue.counts()
        found = queue.list(status, limit)
    finally:
        queue.db.dispose()
    console.print("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no jobs")
    if not found:
        if counts:
            console.print(f"no {status} jobs" if status else "no jobs")
        return
    table = Table("id", "kind", "status", "attempts", "run at", "last error")
    for job in found:
        table.add_row(str(job.id), job.kind, job.status, f"{job.attempts}/{job.max_attempts}",
                      job.run_at.isoformat(timespec="seconds"), escape((job.last_error or "")[:80]))  # fmt: skip
    console.print(table)


def _queue() -> JobQueue:
    """The job queue of a database that is already there and current (reading jobs creates nothing)."""
    settings = _settings()
    return JobQueue(schema.opened_current(settings.database_url), max_attempts=settings.job_max_attempts)


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[int, typer.Argument(metavar="JOB_ID", help="The id `caseroom jobs` shows.")]) -> None:
    """Replay a dead-lettered job now, with a fresh attempt budget."""
    queue = _queue()
    try:
        job = queue.retry(job_id)
    except (LookupError, ValueError) as exc:
        fail(str(exc), 1)
    finally:
        queue.db.dispose()
    console.print(f"job {job.id} ({job.kind}) queued again")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations this release brings (safe with replicas running: they wait on a lock)."""
    url = _settings().database_url
    db = Database(url)
    before = schema.status(db)
    console.print(f"database {display_url(url)}")
    if before.up_to_date:
        console.print(before.describe())
    else:
        after = schema.upgrade(db, say=lambda line: console.print(f"  {line}"))
        console.print(f"database upgraded from revision {before.current or 'none'} to {after.current}")
    # Data the code derives (run again, it goes on where an interrupted run stopped, or finds nothing to do).
    figures.backfill(db, say=lambda line: console.print(f"  {line}"))


@db_app.command("status")
def db_status() -> None:
    """Say which revision the database is at and whether this release can run on it (exit 1 if not)."""
    url = _settings().database_url
    db = existing(url)
    try:
        st = schema.status(db)
    finally:
        db.dispose()
    console.print(f"database {display_url(url)}")
    console.print(st.describe())
    if not st.up_to_date:
        raise typer.Exit(1)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Argument(metavar="MESSAGE", help="What the migration does, in a few words.")],
) -> None:
    """(Developers) Write the next migration in bot/migrations/versions from the models, to be read and edited."""
    with tempfile.TemporaryDirectory() as scratch:
        db = Database(f"sqlite:///{scratch}/scratch.db")
        console.print(f"wrote {schema.new_revision(message, db)}; read it, add data steps, then test it")
        db.dispose()


@app.command("check-config")
def check_config(
    online: Annotated[bool, typer.Option("--online", help="Also try the database and each credential.")] = False,
) -> None:
    """Say what would run with this environment's settings (exit 2 on a bad variable, 1 on a problem); with
    --online, try the database and each configured credential, one verdict a line."""
    plugins = discover()
    settings = _settings()
    rows = checks.plan(settings, plugins)
    width = max(len(label) for label, _ in rows)
    for label, text in rows:
        console.print(f"{label:<{width}}  {escape(text)}")
    problem = checks.nothing_to_serve(settings, plugins)
    if problem:
        err.print(f"[red]problem[/red]: {escape(problem)}")
    failed = bool(problem)
    if online:
        console.print()
        for verdict in checks.probe(settings, plugins):
            mark = "[green]ok[/green]  " if verdict.ok else "[red]FAIL[/red]"
            console.print(f"{mark}  {escape(verdict.subject)}: {escape(verdict.detail)}")
            failed = failed or not verdict.ok
    if failed:
        raise typer.Exit(1)


def _start_sandbox(settings: Settings, host: str, port: int) -> tuple[Settings, Callable[[], None]]:
    eps = list(entry_points(group="caseroom.sandbox"))
    if not eps:
        fail("no credentials are set and the sandbox is not installed (pip install ./sandbox, or set a chat "
             "platform's credentials)")  # fmt: skip
    start: Callable[[str], SandboxRun] = eps[0].load()
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104  (a wildcard is no address)
    public_url = f"http://{reachable}:{port}"
    run = start(public_url)
    os.environ.update(run.env)  # REQUESTS_CA_BUNDLE must reach every requests session
    os.environ["CASEROOM_PUBLIC_URL"] = public_url
    for line in run.banner():
        console.print(line)
    if not os.environ.get("CASEROOM_ADMIN_TOKEN"):
        os.environ["CASEROOM_ADMIN_TOKEN"] = secrets.token_urlsafe(24)  # a fresh one per sandbox run
    console.print(f"  Dashboard: [bold]{public_url}/admin/login[/bold] with token "
                  f"[bold]{os.environ['CASEROOM_ADMIN_TOKEN']}[/bold]")  # fmt: skip
    return load_settings(), run.stop


def build() -> typer.Typer:
    """The whole CLI: the core's commands plus those the integrations contribute (``caseroom.cli``). An entry point
    names a ``typer.Typer`` (a group: ``caseroom <name> <command>``) or a function (one command: ``caseroom <name>``,
    whose usage then promises no subcommands it does not have)."""
    mounted = {group.name for group in app.registered_groups} | {cmd.name for cmd in app.registered_commands}
    for ep in entry_points(group="caseroom.cli"):
        if ep.name in mounted:
            continue
        contributed = ep.load()
        if isinstance(contributed, typer.Typer):
            app.add_typer(contributed, name=ep.name)
        else:
            app.command(ep.name)(contributed)
        mounted.add(ep.name)
    return app


def main() -> None:
    try:
        build()()
    except (ConfigError, schema.SchemaError, DatabaseUnreachable) as exc:
        say_error(str(exc))  # raised outside a command's own handling: typer.Exit would be a traceback here
        sys.exit(2)
