"""The `caseroom` command as a person meets it: help in words (no Python types), choices checked, empty tables
said, a relative SQLite path resolved and shown, read-only commands that never create a database, and a
`webex setup` that can be run again, refuses plain http unless asked, and says a wrong token in one line."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.webex import WebexEmulator
from typer import _click
from typer.main import get_command
from typer.testing import CliRunner

from bot.cli import build
from bot.db import Database
from bot.jobs import JobQueue
from tests.support import CASEROOM, command_env

PYTHON_TYPE = re.compile(r"<(str|int|float|bool|Path|datetime|list\[[^>]*\])>")


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASEROOM, *args], cwd=cwd, env=command_env(COLUMNS="200", **env), capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def every_command(group: _click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], bool]]:
    """(the words that reach it, whether it has subcommands) for the root and every command under it."""
    subcommands = getattr(group, "commands", {})
    yield path, bool(subcommands)
    for name, command in subcommands.items():
        yield from every_command(command, (*path, name))


def test_help_names_values_and_choices_never_python_types_and_promises_only_real_subcommands() -> None:
    cli = build()
    runner = CliRunner()
    seen = 0
    for path, has_subcommands in every_command(get_command(cli)):
        shown = runner.invoke(cli, [*path, "--help"], terminal_width=200)
        assert shown.exit_code == 0, (path, shown.output)
        assert not PYTHON_TYPE.search(shown.output), (path, shown.output)
        usage = next(line for line in shown.output.splitlines() if "Usage:" in line)
        assert ("COMMAND" in usage) == has_subcommands, (path, usage)
        seen += 1
    assert seen >= 15  # serve, worker, check-config, jobs (retry), db (3), transcript (2), webex setup, shifts, ...
    jobs = runner.invoke(cli, ["jobs", "--help"], terminal_width=200).output
    assert "<queued|running|done|dead>" in jobs and "--limit" in jobs and " N " in jobs
    for single in ("shifts", "sandbox", "demo"):  # one command each: their usage offers no COMMAND
        assert "COMMAND" not in runner.invoke(cli, [single, "--help"], terminal_width=200).output


def test_read_only_commands_on_a_missing_sqlite_file_say_so_in_one_line_and_create_nothing(tmp_path: Path) -> None:
    db_file = tmp_path / "nowhere" / "caseroom.db"
    (tmp_path / "nowhere").mkdir()
    for args in (["jobs"], ["jobs", "retry", "1"], ["db", "status"], ["transcript", "search", "printer"],
                 ["transcript", "export", "00001001"]):  # fmt: skip
        done = run(tmp_path, *args, CASEROOM_DATABASE_URL=f"sqlite:///{db_file}")
        assert done.returncode == 2, (args, done)
        assert done.stderr.strip().splitlines() == [
            f"caseroom: no database at {db_file}: nothing has been stored there (CASEROOM_DATABASE_URL names it; "
            "`caseroom serve` or `caseroom db upgrade` creates it)"
        ], args
        assert not db_file.exists(), args
    assert list((tmp_path / "nowhere").iterdir()) == []


def test_a_relative_sqlite_path_is_resolved_where_the_command_starts_and_shown_absolute(tmp_path: Path) -> None:
    made = run(tmp_path, "db", "upgrade", CASEROOM_DATABASE_URL="sqlite:///./data/../caseroom.db")
    assert made.returncode == 0, made
    assert made.stdout.splitlines()[0] == f"database sqlite:///{tmp_path / 'caseroom.db'}"
    assert (tmp_path / "caseroom.db").exists()
    status = run(tmp_path, "db", "status", CASEROOM_DATABASE_URL="sqlite:///caseroom.db")
    assert status.returncode == 0 and status.stdout.splitlines()[0] == f"database sqlite:///{tmp_path / 'caseroom.db'}"


def test_jobs_refuses_an_unknown_status_and_says_when_nothing_is_listed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'caseroom.db'}"
    assert run(tmp_path, "db", "upgrade", CASEROOM_DATABASE_URL=url).returncode == 0
    bogus = run(tmp_path, "jobs", "--status", "stuck", CASEROOM_DATABASE_URL=url)
    assert bogus.returncode == 2 and "'stuck' is not one of 'queued', 'running', 'done', 'dead'" in bogus.stderr
    empty = run(tmp_path, "jobs", CASEROOM_DATABASE_URL=url)
    assert empty.returncode == 0 and empty.stdout.splitlines() == ["no jobs"]  # no header of an empty table

    db = Database(url)
    queue = JobQueue(db)
    with db.session() as s:
        queue.enqueue(s, "case_event", {"number": "00001001"}, key="k1")
        s.commit()
    db.dispose()
    none_dead = run(tmp_path, "jobs", "--status", "DEAD", CASEROOM_DATABASE_URL=url)
    assert none_dead.returncode == 0 and none_dead.stdout.splitlines() == ["queued: 1", "no dead jobs"]
    listed = run(tmp_path, "jobs", "--status", "queued", CASEROOM_DATABASE_URL=url)
    assert "case_event" in listed.stdout and "queued" in listed.stdout


@pytest.fixture
def webex(tmp_path: Path) -> Iterator[tuple[WebexEmulator, dict[str, str]]]:
    emu = WebexEmulator(seed=7, observer_email="observer@sandbox.example")
    server = ServerThread(emu.app).start()
    env = {"WEBEX_BASE_URL": f"{server.url}/v1/", "WEBEX_ACCESS_TOKEN": emu.bot_token,
           "WEBEX_OBSERVER_TOKEN": emu.observer_token or "", "CASEROOM_DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}
    try:
        yield emu, env
    finally:
        server.stop()


def secret_printed(stdout: str) -> str:
    return next(line.split("=", 1)[1] for line in stdout.splitlines() if "WEBEX_WEBHOOK_SECRET=" in line)


def test_webex_setup_run_again_without_a_configured_secret_changes_nothing(
    tmp_path: Path, webex: tuple[WebexEmulator, dict[str, str]]
) -> None:
    emu, env = webex
    first = run(tmp_path, "webex", "setup", "--public-url", "https://caseroom.example", **env)
    assert first.returncode == 0, first
    hooks = emu.snapshot()["webhooks"]
    assert len(hooks) == 9 and {h["secret"] for h in hooks} == {secret_printed(first.stdout)}

    again = run(tmp_path, "webex", "setup", "--public-url", "https://caseroom.example", **env)
    assert again.returncode == 0, again
    assert [line.split()[0] for line in again.stdout.splitlines() if line[:1].isalpha()][:9] == ["kept"] * 9
    assert emu.snapshot()["webhooks"] == hooks  # same ids, same secret: Webex was not touched
    assert secret_printed(again.stdout) == secret_printed(first.stdout)  # still the one to configure

    rotated = run(tmp_path, "webex", "setup", "--public-url", "https://caseroom.example", "--secret", "s3", **env)
    assert rotated.returncode == 0 and {h["secret"] for h in emu.snapshot()["webhooks"]} == {"s3"}


def test_webex_setup_refuses_plain_http_unless_asked_and_says_a_wrong_token_in_one_line(
    tmp_path: Path, webex: tuple[WebexEmulator, dict[str, str]]
) -> None:
    emu, env = webex
    plain = run(tmp_path, "webex", "setup", "--public-url", "http://caseroom.example", **env)
    assert plain.returncode == 2 and len(plain.stderr.strip().splitlines()) == 1
    assert "is not https" in plain.stderr and "--allow-http" in plain.stderr
    assert emu.snapshot()["webhooks"] == []
    nonsense = run(tmp_path, "webex", "setup", "--public-url", "caseroom.example", **env)
    assert nonsense.returncode == 2 and "not an http(s) URL with a host" in nonsense.stderr

    allowed = run(tmp_path, "webex", "setup", "--public-url", "http://127.0.0.1:8000", "--allow-http", **env)
    assert allowed.returncode == 0, allowed
    assert {h["targetUrl"] for h in emu.snapshot()["webhooks"]} == {"http://127.0.0.1:8000/webhooks/webex"}

    wrong = run(tmp_path, "webex", "setup", "--public-url", "https://caseroom.example",
                **(env | {"WEBEX_ACCESS_TOKEN": "not-a-token"}))  # fmt: skip
    assert wrong.returncode == 2 and wrong.stdout == ""
    [line] = wrong.stderr.strip().splitlines()
    assert line.startswith("caseroom: webex setup stopped: Webex webhooks.list: HTTP 401")
    assert line.endswith("(using the bot token, WEBEX_ACCESS_TOKEN)")
    assert {h["targetUrl"] for h in emu.snapshot()["webhooks"]} == {"http://127.0.0.1:8000/webhooks/webex"}
