"""Retries, dead letters, replay, and crash recovery of the durable job queue."""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.db import Database
from bot.jobs import JobQueue
from bot.models import Job, JobStatus, utcnow
from bot.worker import JobKind, Worker
from integrations.crm import PermanentCRMError
from integrations.pacing import Paced
from tests.doubles import SharedState
from tests.replica import start as start_replica
from tests.support import case_event, encode, runtime, signed_headers


def deliver(client: TestClient, event_id: str = "evt_1") -> None:
    body = encode(case_event(event_id))
    assert client.post("/webhooks/crm", content=body, headers=signed_headers(body)).status_code == 200


def test_a_failing_job_is_retried_then_dead_lettered_and_replayable_from_the_cli(
    db_url: str, state_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    state = SharedState(state_file)
    state.set_fault("ensure_room", "transient", times=3)  # max attempts is 3 in the tests
    deliver(client)
    assert rt.worker().drain() == 3
    [job] = rt.queue.list()
    assert (job.status, job.attempts) == (JobStatus.DEAD, 3)
    assert "simulated 429" in (job.last_error or "")
    # The case's room is marked failed and its URL says so instead of spinning for ever.
    page = client.get("/rooms/00001234", follow_redirects=False)
    assert page.status_code == 503 and "could not be created" in page.text

    monkeypatch.setenv("CASEROOM_DATABASE_URL", db_url)
    monkeypatch.setenv("CASEROOM_SANDBOX", "false")
    runner = CliRunner()
    listing = runner.invoke(cli, ["jobs", "--status", "dead"], terminal_width=200)
    assert listing.exit_code == 0, listing.output
    assert "dead: 1" in listing.output and "case.event" in listing.output and "simulated 429" in listing.output
    replay = runner.invoke(cli, ["jobs", "retry", str(job.id)])
    assert replay.exit_code == 0 and f"job {job.id} (case.event) queued again" in replay.output
    assert runner.invoke(cli, ["jobs", "retry", "999999"]).exit_code == 1

    assert rt.worker().drain() == 2  # the replayed event and the URL write it queued
    assert state.read()["created"] == ["00001234"]
    assert client.get("/rooms/00001234", follow_redirects=False).status_code == 302


def test_retry_after_from_the_platform_is_honoured(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    SharedState(state_file).set_fault("ensure_room", "transient", times=1, retry_after=30)
    deliver(TestClient(rt.app))
    before = utcnow()
    assert rt.worker().drain() == 1  # the retry is not due yet: the worker is free for other cases
    after = utcnow()
    [job] = rt.queue.list()
    assert job.status == JobStatus.QUEUED and job.attempts == 1
    # Bracketed by readings taken before and after the attempt: no window that a slow machine could miss.
    assert before + timedelta(seconds=30) <= job.run_at <= after + timedelta(seconds=30)


def test_a_permanent_refusal_is_dead_lettered_at_once(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    SharedState(state_file).set_fault("ensure_room", "permanent", times=1)
    deliver(TestClient(rt.app))
    rt.worker().drain()
    [job] = rt.queue.list()
    assert (job.status, job.attempts) == (JobStatus.DEAD, 1)


class PermanentlyBusy(Exception):
    """A library's error whose name merely starts with "Permanent": an ordinary failure, retried."""


class Gone(PermanentCRMError):
    """An adapter's own refusal, named as it likes: permanent because of what it derives from."""


@pytest.mark.parametrize(
    ("error", "status", "attempts"),
    [
        (PermanentlyBusy("the far side is busy"), JobStatus.QUEUED, 1),
        (Gone("case deleted in the CRM"), JobStatus.DEAD, 1),
        (Paced("rooms.create: paced", retry_after=5), JobStatus.QUEUED, 0),
    ],
    ids=["name-only", "permanent-subclass", "deferral"],
)
def test_a_failure_is_judged_by_its_type_not_its_name(
    db: Database, error: Exception, status: JobStatus, attempts: int
) -> None:
    def fail(job: Job) -> None:
        raise error

    queue = JobQueue(db, max_attempts=5)
    queue.submit("probe", {})
    assert Worker(queue, {"probe": JobKind(fail)}).drain() == 1
    [job] = queue.list()
    assert (job.status, job.attempts) == (status, attempts)

def replica(db_url: str, state_file: Path, *extra: str) -> tuple[int | None, str]:
    """Run one replica process to its end (or its death); its exit code and what it wrote to stderr."""
    log = state_file.with_suffix(f".replica-{uuid.uuid4().hex[:8]}.log")
    proc = start_replica(db_url, str(state_file), "--lease", "1", *extra, log=log)
    proc.join(60)
    if proc.is_alive():
        proc.kill()
        raise AssertionError(f"the replica did not finish within 60 s: {log.read_text()}")
    return proc.exitcode, log.read_text() if log.exists() else ""


@pytest.mark.parametrize(
    "fault",
    ["ensure_room:after", "add_member", "add_member:after", "post"],
    ids=["room-created-id-not-stored", "before-invite", "invited-not-recorded", "before-welcome"],
)
def test_a_process_killed_between_steps_resumes_on_restart(db_url: str, state_file: Path, fault: str) -> None:
    state = SharedState(state_file)
    method, _, when = fault.partition(":")
    state.set_fault(f"{method}:after" if when else method, "kill", times=1)
    code, err = replica(db_url, state_file, "--deliver", "evt_1")
    assert code == -signal.SIGKILL, err
    # The restarted replica works until the queue is idle: it takes the job over once the dead one's lease ends.
    code, err = replica(db_url, state_file, "--until", str(state_file))
    assert code == 0, err

    data = state.read()
    assert data["created"] == ["00001234"]
    room = data["rooms"]["00001234"]
    assert set(room["members"]) == {"carol@customer.example", "ada@support.example"}
    welcomes = [m for m in room["messages"] if m["text"].startswith("Welcome")]
    assert len(welcomes) == 1
    # The URL goes to the CRM by a job of its own once the room is open: a kill in the opening cannot repeat it.
    assert [c["url"] for c in state.calls("crm.write_room_url")] == ["https://caseroom.example/rooms/00001234"]
    rt, _ = runtime(db_url, state_file)
    assert rt.queue.counts() == {JobStatus.DONE: 2}


def test_replicas_in_separate_processes_receiving_the_same_event_make_one_room(db_url: str, state_file: Path) -> None:
    SharedState(state_file)
    logs = [state_file.with_suffix(f".replica-{i}.log") for i in range(3)]
    procs = [start_replica(db_url, str(state_file), "--deliver", "evt_same", log=log) for log in logs]
    for p, log in zip(procs, logs, strict=True):
        p.join(60)
        assert p.exitcode == 0, log.read_text() if log.exists() else p.exitcode
    state = SharedState(state_file)
    assert state.read()["created"] == ["00001234"]
    assert Counter(c["email"] for c in state.calls("add_member")) == {
        "carol@customer.example": 1,
        "ada@support.example": 1,
    }
