"""Helpers shared by the tests: databases, a runtime wired to the port doubles, signed CRM webhooks."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bot.config import Settings
from bot.crm_webhook import sign
from bot.events import WEBHOOK_CRM
from bot.jobs import JobQueue
from bot.runtime import Runtime
from tests.doubles import FakeCRM, FakeMessenger, SharedState

SECRET = "test-crm-secret"
PG_ENV = "CASEROOM_TEST_POSTGRES_URL"
CASEROOM = str(Path(sys.executable).with_name("caseroom"))  # the installed command, run as a user runs it


def command_env(**values: str) -> dict[str, str]:
    """This process's environment without any CaseRoom or platform setting, plus ``values``: a ``caseroom``
    command run by a test sees only what the test gives it."""
    ours = ("WEBEX_", "SLACK_", "SALESFORCE_", "ZENDESK_", "CASEROOM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return env | values


def caseroom(cwd: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``caseroom *args`` on ``db_url`` as a user would, with the sandbox off and a Webex token that nothing
    these tests run reaches Webex with (``serve`` and ``worker`` refuse to start with no platform at all)."""
    env = command_env(CASEROOM_DATABASE_URL=db_url, CASEROOM_SANDBOX="false", WEBEX_ACCESS_TOKEN="unused",
                      COLUMNS="200")  # fmt: skip
    return subprocess.run([CASEROOM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the server named by CASEROOM_TEST_POSTGRES_URL, dropped afterwards."""
    base = os.environ[PG_ENV]
    name = f"caseroom_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, _ = base.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "CASEROOM_DATABASE_URL": db_url,
        "CASEROOM_PUBLIC_URL": "https://caseroom.example",
        "CASEROOM_CRM_WEBHOOK_SECRET": SECRET,
        "CASEROOM_SANDBOX": False,
        "CASEROOM_WORKERS": 0,
        "CASEROOM_JOB_BACKOFF_BASE_SECONDS": 0,
        "CASEROOM_JOB_MAX_ATTEMPTS": 3,
    }
    values.update(overrides)
    return Settings(**values)


def runtime(db_url: str, state_file: Path, **overrides: Any) -> tuple[Runtime, FakeCRM]:
    state = SharedState(state_file)
    crm = FakeCRM(state)
    rt = Runtime(settings(db_url, **overrides), plugins=[], messaging={"webex": FakeMessenger(state)},
                 crms={WEBHOOK_CRM: crm})  # fmt: skip
    return rt, crm


def case_event(
    event_id: str = "evt_1",
    type_: str = "case.opened",
    *,
    number: str = "00001234",
    occurred_at: str = "2026-11-22T18:00:00Z",
    engineer: str | None = "ada@support.example",
    customer: str = "carol@customer.example",
    subject: str = "VPN drops every hour",
    status: str = "New",
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": type_,
        "occurred_at": occurred_at,
        "case": {
            "id": f"500{number}",
            "number": number,
            "subject": subject,
            "description": "Since Monday.",
            "status": status,
            "priority": "P2",
            "platform": "webex",
            "customer": {"email": customer, "name": "Carol Customer"},
            "engineer": {"email": engineer, "name": engineer.split("@")[0].title(), "timezone": "Europe/Amsterdam"}
            if engineer
            else None,
        },
    }


def signed_headers(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    ts = str(int(time.time() if at is None else at))
    return {
        "Content-Type": "application/json",
        "X-CaseRoom-Timestamp": ts,
        "X-CaseRoom-Signature": sign(secret, ts, body),
    }


def signed_for(rt: Runtime, body: bytes) -> dict[str, str]:
    """Signed at the service's own clock (a test's injected one too), as a CRM whose clock agrees would sign.

    A test clock that ticks on every read exposes its current instant as ``now``; reading that leaves it be.
    """
    clock = rt.services.clock
    now = getattr(clock, "now", None) or clock()
    return signed_headers(body, at=now.timestamp())


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def wait_until(condition: Callable[[], bool], timeout: float, what: Callable[[], str], poll: float = 0.05) -> None:
    """Return as soon as ``condition`` holds; after ``timeout`` seconds fail, saying ``what()`` was still wrong."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what()}")
        time.sleep(poll)


_PORTS = itertools.count()
PORTS_PER_WORKER = 1500


def free_port(host: str = "127.0.0.1") -> int:
    """A port for a server a test starts in another process (or binds later), free right now.

    Taken from a range of this test worker's own below the kernel's ephemeral range (32768 and up), because a port
    the kernel hands out and then frees can be handed, in that gap, to another worker's server or to an outgoing
    connection: the test would then talk to a stranger (seen: a 404 from another worker's emulator)."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    base = 20000 + (worker % 8) * PORTS_PER_WORKER
    for _ in range(PORTS_PER_WORKER):
        port = base + next(_PORTS) % PORTS_PER_WORKER
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:  # in use (a server of this worker's, still up): the next one
                continue
        return port
    raise RuntimeError(f"no free port in {base}..{base + PORTS_PER_WORKER - 1}")


def first_answer(proc: subprocess.Popen[Any], url: str, timeout: float, output: Callable[[], str]) -> httpx.Response:
    """``url``'s first answer from a process that is starting; fail with its ``output()`` if it dies first, or at
    the deadline."""
    answers: list[httpx.Response] = []

    def answered() -> bool:
        assert proc.poll() is None, output()
        try:
            answers.append(httpx.get(url, timeout=2))
        except httpx.TransportError:
            return False
        return True

    wait_until(answered, timeout, lambda: f"{url} never answered", poll=0.2)
    return answers[-1]


def settle(flush: Callable[[float], bool], queue: JobQueue, until: Callable[[], bool] = lambda: True,
           timeout: float = 20.0, idle: bool = True) -> None:  # fmt: skip
    """Wait until an emulator's deliveries are out (``flush``), ``until`` holds and (with ``idle``) no job waits."""

    def settled() -> bool:
        flush(5)
        return (not idle or queue.pending() == 0) and flush(0.1) and until()

    wait_until(settled, timeout, lambda: f"not settled: queue {queue.counts()}")
