"""`caseroom check-config` tells the truth about what would run, and `--online` tries every credential for real;
`serve` and `worker` refuse plainly when nothing could work, and an unreachable database is one line."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from caseroom_sandbox.launch import Sandbox, launch

from tests.support import CASEROOM, command_env


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``caseroom *args`` with only ``env`` configured and no terminal: output goes to pipes, as in a log."""
    return subprocess.run([CASEROOM, *args], cwd=cwd, env=command_env(**env), capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def rows(stdout: str) -> dict[str, str]:
    """The plan's ``label  description`` lines (labels may hold one space)."""
    found = {}
    for line in stdout.splitlines():
        label, sep, text = line.partition("  ")
        if sep and not line.startswith(("ok ", "FAIL")):
            found[label] = text.strip()
    return found


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    sb = launch("http://127.0.0.1:8999", seed=7)
    try:
        yield sb
    finally:
        sb.stop()


def test_the_plan_names_what_would_run_and_what_each_missing_part_needs(tmp_path: Path) -> None:
    result = run(tmp_path, "check-config", CASEROOM_DATABASE_URL="sqlite:///data/caseroom.db",
                 WEBEX_ACCESS_TOKEN="t", CASEROOM_CRM_WEBHOOK_SECRET="s")  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = rows(result.stdout)
    assert plan["database"] == f"sqlite:///{tmp_path / 'data' / 'caseroom.db'}"  # resolved where it would be opened
    assert plan["chat platforms"] == ("slack (not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET); "
                                      "webex (configured)")  # fmt: skip
    assert "salesforce (not configured: set SALESFORCE_INSTANCE_URL and SALESFORCE_ORG_ID)" in plan["CRMs"]
    assert "POST /webhooks/crm (on, signed with CASEROOM_CRM_WEBHOOK_SECRET)" in plan["CRMs"]
    assert plan["sandbox"] == "off (credentials are set)"
    assert not (tmp_path / "data").exists()  # looking creates nothing

    sandboxed = rows(run(tmp_path, "check-config").stdout)
    assert sandboxed["sandbox"].startswith("on (no credentials are set): `caseroom serve` starts local emulators")


def test_nothing_to_serve_is_a_problem_check_config_serve_and_worker_all_name(tmp_path: Path) -> None:
    check = run(tmp_path, "check-config", CASEROOM_SANDBOX="false")
    assert check.returncode == 1
    assert "no chat platform is configured and the sandbox is off (CASEROOM_SANDBOX=false)" in check.stderr
    assert "slack: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; webex: WEBEX_ACCESS_TOKEN" in check.stderr

    serve = run(tmp_path, "serve", "--port", "1", CASEROOM_SANDBOX="false")
    assert serve.returncode == 2 and "Traceback" not in serve.stderr
    [line] = serve.stderr.splitlines()  # one line however long: never cut at 80 columns in a log
    assert line.startswith("caseroom: no chat platform is configured") and line.endswith("local emulators")

    # A worker never starts the sandbox, so the sandbox being on does not help it.
    worker = run(tmp_path, "worker")
    assert worker.returncode == 2
    assert "a worker never starts the sandbox (it runs inside `caseroom serve`)" in worker.stderr
    assert not list(tmp_path.iterdir())  # no database was made for a process that could not start


@pytest.mark.parametrize("args", [("serve", "--port", "1"), ("worker",), ("jobs",), ("db", "status"),
                                  ("db", "upgrade")])  # fmt: skip
def test_an_unreachable_database_is_one_line_with_the_password_hidden(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run(tmp_path, *args, CASEROOM_DATABASE_URL="postgresql://caseroom:hunter2@127.0.0.1:1/caseroom",
                 WEBEX_ACCESS_TOKEN="t")  # fmt: skip
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("caseroom: cannot reach the database postgresql://caseroom:***@127.0.0.1:1/caseroom: ")
    assert "refused" in line.lower() and "hunter2" not in result.stderr + result.stdout


def test_online_tries_every_credential_and_the_database(tmp_path: Path, sandbox: Sandbox) -> None:
    env = sandbox.env | {"CASEROOM_DEFAULT_PLATFORM": "webex", "CASEROOM_DATABASE_URL": "sqlite:///c.db"}
    bot_id = sandbox.slack.store.bot.id  # type: ignore[attr-defined]
    result = run(tmp_path, "check-config", "--online", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = [line for line in result.stdout.splitlines() if line.startswith(("ok ", "FAIL"))]
    assert verdicts == [
        f"ok    database: SQLite {tmp_path / 'c.db'} does not exist yet; `caseroom serve` creates it",
        f"ok    salesforce organization: logged in to CaseRoom Sandbox ({env['SALESFORCE_ORG_ID']}) at "
        f"{env['SALESFORCE_INSTANCE_URL']}",
        "ok    salesforce Case.Room_URL__c: Case.Room_URL__c (url, 255) is writable",
        f"ok    slack bot token: bot caseroom ({bot_id}) in the workspace caseroom-sandbox (T0CASEROOM)",
        "ok    webex access token: bot CaseRoom (caseroom@webex.bot)",
        "ok    webex observer token: person CaseRoom Observer (observer@sandbox.example)",
        f"ok    zendesk: signed in to {env['ZENDESK_URL']} as CaseRoom Integration <caseroom@caseroom.example> (admin)",
        f"ok    zendesk room URL field: ticket field {env['ZENDESK_ROOM_URL_FIELD_ID']} (CaseRoom room, text) "
        "is active",
    ]
    assert not (tmp_path / "c.db").exists()


def test_online_names_each_credential_that_does_not_work_and_why(tmp_path: Path, sandbox: Sandbox) -> None:
    person = sandbox.webex.add_person("dana@sandbox.example", "Dana Engineer")  # type: ignore[attr-defined]
    db = tmp_path / "old.db"
    db.touch()
    db.write_bytes(b"not a database")
    wrong = sandbox.env | {
        "CASEROOM_DEFAULT_PLATFORM": "webex",
        "CASEROOM_DATABASE_URL": f"sqlite:///{db}",
        "SLACK_BOT_TOKEN": "xoxb-revoked",
        "WEBEX_ACCESS_TOKEN": person["token"],  # a person's token: it expires, and every message would be theirs
        "SALESFORCE_ORG_ID": "00D000000000002",  # another org's: its Outbound Messages would all be refused
        "SALESFORCE_ROOM_URL_FIELD": "Case_Room__c",
        "ZENDESK_API_TOKEN": "revoked",
    }
    result = run(tmp_path, "check-config", "--online", **wrong)
    assert result.returncode == 1
    out = result.stdout
    assert f"FAIL  database: cannot reach the database sqlite:///{db}: file is not a database" in out
    org = sandbox.env["SALESFORCE_ORG_ID"]
    assert (f"FAIL  salesforce organization: the credentials log in to CaseRoom Sandbox ({org}), but "
            "SALESFORCE_ORG_ID is 00D000000000002: its Outbound Messages would all be refused") in out
    assert "FAIL  salesforce Case.Case_Room__c: Case has no field Case_Room__c (SALESFORCE_ROOM_URL_FIELD)" in out
    assert f"FAIL  slack bot token: refused by {sandbox.env['SLACK_API_URL']}: invalid_auth" in out
    assert "FAIL  webex access token: belongs to the person Dana Engineer (dana@sandbox.example), not to a bot: " \
           "create a bot at developer.webex.com and use its token" in out
    assert "ok    webex observer token" in out
    assert "FAIL  zendesk: Zendesk read the current user: HTTP 401: Couldn't authenticate you" in out

    unreachable = run(tmp_path, "check-config", "--online", **(sandbox.env | {
        "CASEROOM_DEFAULT_PLATFORM": "webex", "SLACK_API_URL": "http://127.0.0.1:1/api/",
        "WEBEX_BASE_URL": "http://127.0.0.1:1/v1/", "SALESFORCE_ACCESS_TOKEN": "expired"}))  # fmt: skip
    assert unreachable.returncode == 1
    lines = {line.split(":", 1)[0]: line for line in unreachable.stdout.splitlines()}
    slack = lines["FAIL  slack bot token"]
    assert slack.endswith("cannot reach http://127.0.0.1:1/api/: [Errno 111] Connection refused")
    webex = lines["FAIL  webex access token"]
    assert webex.startswith("FAIL  webex access token: cannot reach http://127.0.0.1:1/v1/: ")
    assert webex.endswith("[Errno 111] Connection refused") and "object at 0x" not in webex
    assert lines["FAIL  salesforce"].startswith("FAIL  salesforce: Salesforce read the organization: session expired")
