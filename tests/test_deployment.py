"""The deployment files, judged by what they run: the image (``Dockerfile``) and the scaled-out ``compose.yaml``.

No Docker engine runs here or in CI, so the compose services' own commands, with their environment and the image's,
are run as processes: the migration once on a fresh PostgreSQL database, two intake-only ``serve`` replicas and one
``worker``, probed with the health checks the image and the compose file declare, and a case delivered to both
replicas makes one room in the Slack emulator.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from caseroom_sandbox.server import ServerThread
from caseroom_sandbox.slack import SlackEmulator

from bot.config import Settings, load_settings
from bot.plugins import discover
from tests.support import (
    CASEROOM,
    SECRET,
    case_event,
    command_env,
    encode,
    first_answer,
    free_port,
    signed_headers,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "manifest" / "caseroom.env.example"


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (keyword, arguments), continuation lines joined, comments left out."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(kw.upper(), args.strip()) for kw, _, args in (line.partition(" ") for line in joined.splitlines() if line)]


def image_health_check() -> list[str]:
    [check] = [args for kw, args in dockerfile() if kw == "HEALTHCHECK"]
    return list(json.loads(check.split(" CMD ", 1)[1]))


def image_env() -> dict[str, str]:
    return dict(pair.split("=", 1) for kw, args in dockerfile() if kw == "ENV" for pair in shlex.split(args))


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def caseroom_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if s.get("build") == "."}


def example_variables() -> dict[str, str | None]:
    """Every variable the example names: its value when set, None when commented out."""
    found: dict[str, str | None] = {}
    for line in EXAMPLE.read_text().splitlines():
        if m := re.fullmatch(r"(#?)([A-Z][A-Z0-9_]*)=(.*)", line):
            found[m[2]] = None if m[1] else m[3]
    return found


def test_the_image_holds_the_product_alone_runs_unprivileged_and_checks_its_health() -> None:
    steps = dockerfile()
    assert all(args.startswith("python:3.11-slim") for kw, args in steps if kw == "FROM")
    user = [args for kw, args in steps if kw == "USER"][-1]
    assert user.split(":")[0] not in {"root", "0"}
    # What it copies is the product's (no sandbox, no tests), and the build context lets exactly that in.
    copied = {src for kw, args in steps if kw == "COPY" and "--from" not in args for src in args.split()[:-1]}
    assert copied == {"pyproject.toml", "README.md", "LICENSE", "bot", "handlers", "integrations"}
    assert all((ROOT / src).exists() for src in copied)
    allowed = {line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line[:1] == "!"}
    assert allowed == copied
    assert image_env()["CASEROOM_SANDBOX"] == "false"  # the sandbox is not in the image
    assert json.loads(dict(steps)["CMD"]) == ["caseroom", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert "127.0.0.1:8000/healthz" in " ".join(image_health_check())


def test_the_compose_file_migrates_once_then_runs_two_intake_replicas_and_a_worker_on_postgresql() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "serve", "worker"}
    mine = caseroom_services()
    assert set(mine) == {"migrate", "serve", "worker"}
    assert mine["migrate"]["command"] == ["caseroom", "db", "upgrade"]
    assert mine["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "healthcheck" in services["postgres"]
    for name in ("serve", "worker"):
        assert mine[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert mine["serve"]["command"][:2] == ["caseroom", "serve"] and mine["serve"]["deploy"]["replicas"] == 2
    assert mine["serve"]["environment"]["CASEROOM_WORKERS"] == "0"
    assert mine["worker"]["command"][:2] == ["caseroom", "worker"]
    pg = services["postgres"]["environment"]
    for service in mine.values():
        assert service["env_file"] == "caseroom.env"
        url = service["environment"]["CASEROOM_DATABASE_URL"]
        assert url.startswith(f"postgresql://{pg['POSTGRES_USER']}:")
        assert url.endswith(f"@postgres:5432/{pg['POSTGRES_DB']}")
    assert "caseroom.env" in (ROOT / ".gitignore").read_text().split()


def test_the_example_settings_name_only_what_caseroom_reads_and_are_valid_as_given() -> None:
    known = {field.alias for field in Settings.model_fields.values() if field.alias} | {"REQUESTS_CA_BUNDLE"}
    for plugin in discover():
        known |= {plugin.settings.variable(name) for name in plugin.settings.model_fields}
    named = example_variables()
    assert set(named) <= known, set(named) - known
    assert {"CASEROOM_PUBLIC_URL", "WEBEX_ACCESS_TOKEN", "SLACK_BOT_TOKEN", "SALESFORCE_INSTANCE_URL"} <= set(named)
    given = {k: v for k, v in named.items() if v is not None}
    load_settings(**given, **image_env())  # raises ConfigError naming every bad variable


@dataclass
class Started:
    proc: subprocess.Popen[bytes]
    output: Callable[[], str]


def as_run_here(command: list[str], ports: dict[str, int]) -> list[str]:
    """A service's command run on this machine: the installed ``caseroom``, on loopback, on free ports."""
    out = [CASEROOM if command[0] == "caseroom" else sys.executable if command[0] == "python" else command[0]]
    for prev, arg in itertools.pairwise(command):
        out.append(str(ports[prev]) if prev in ports else "127.0.0.1" if arg == "0.0.0.0" else arg)
    return out


def checks(command: list[str], port: int, on: int) -> bool:
    probe = [sys.executable if command[0] == "python" else command[0], *command[1:]]
    probe = [arg.replace(f":{port}/", f":{on}/") for arg in probe]
    return subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0


@contextmanager
def started(tmp_path: Path, name: str, command: list[str], env: dict[str, str]) -> Iterator[Started]:
    log_path = tmp_path / f"{name}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield Started(proc, log_path.read_text)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.postgres
@pytest.mark.slow
def test_the_compose_services_as_written_make_one_deployment(tmp_path: Path, pg_url: str) -> None:
    emu = SlackEmulator(signing_secret="compose-slack-secret", seed=3)
    mine = caseroom_services()
    ports = {"serve-1": free_port(), "serve-2": free_port(), "metrics": free_port()}
    with ExitStack() as stack:
        emulator = ServerThread(emu.app).start()
        stack.callback(emulator.stop)
        emu_url = emulator.url
        # The image's environment, then caseroom.env (here: the Slack emulator), then the service's own.
        settings = {"CASEROOM_PUBLIC_URL": "https://caseroom.example", "CASEROOM_CRM_WEBHOOK_SECRET": SECRET,
                    "SLACK_API_URL": f"{emu_url}/api/", "SLACK_BOT_TOKEN": emu.bot_token,
                    "SLACK_SIGNING_SECRET": "compose-slack-secret", "SLACK_RATE_LIMITS": ""}  # fmt: skip

        def env(service: str) -> dict[str, str]:
            own = mine[service]["environment"] | {"CASEROOM_DATABASE_URL": pg_url}
            return command_env(**(image_env() | settings | own))

        migrated = subprocess.run(as_run_here(mine["migrate"]["command"], {}), cwd=tmp_path, env=env("migrate"),
                                  capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert migrated.returncode == 0 and "database upgraded" in migrated.stdout, migrated.stdout + migrated.stderr

        health = image_health_check()
        bases = []
        for replica in ("serve-1", "serve-2"):
            command = as_run_here(mine["serve"]["command"], {"--port": ports[replica]})
            serve = stack.enter_context(started(tmp_path, replica, command, env("serve")))
            base = f"http://127.0.0.1:{ports[replica]}"
            assert first_answer(serve.proc, f"{base}/healthz", 60, serve.output).status_code == 200
            assert checks(health, 8000, ports[replica]), f"the image's health check fails on {replica}"
            bases.append(base)
        worker_cmd = as_run_here(mine["worker"]["command"], {"--metrics-port": ports["metrics"]})
        worker = stack.enter_context(started(tmp_path, "worker", worker_cmd, env("worker")))
        worker_check = mine["worker"]["healthcheck"]["test"][1:]  # after "CMD"
        wait_until(lambda: checks(worker_check, 9100, ports["metrics"]), 60, worker.output)

        # One case delivered to both replicas (a load balancer's retry) makes one channel, opened by the worker.
        event = case_event("evt-compose")
        event["case"]["platform"] = "slack"
        body = encode(event)
        for base in bases:
            assert httpx.post(f"{base}/webhooks/crm", content=body, headers=signed_headers(body)).status_code == 200

        def one_channel() -> bool:
            channels = [c for c in emu.snapshot()["channels"] if c["name"].startswith("case-00001234")]
            return len(channels) == 1 and bool(emu.channel_messages(channels[0]["id"]))

        wait_until(one_channel, 60, lambda: f"{emu.snapshot()['channels']}\n{worker.output()}")
        # The worker's log tells it in a line a person reads, naming the case.
        wait_until(lambda: "INFO bot.lifecycle: case 00001234: room ready on slack in " in worker.output(), 30,
                   worker.output)  # fmt: skip
    # Stopped, the replica fails the image's health check: the check can tell.
    assert not checks(health, 8000, ports["serve-1"])
