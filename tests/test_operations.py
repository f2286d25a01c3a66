"""Operating CaseRoom: configuration errors, health, metrics, and one scheduler leader among replicas."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.config import ConfigError, load_settings
from bot.runtime import Runtime
from bot.scheduler import LeaderScheduler, Periodic
from integrations.webex.plugin import plugin as webex_plugin
from integrations.webex.settings import WebexSettings
from tests.support import (
    CASEROOM,
    case_event,
    command_env,
    encode,
    first_answer,
    free_port,
    runtime,
    signed_headers,
    wait_until,
)


def test_bad_configuration_names_each_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEROOM_DATABASE_URL", "mysql://nope")
    monkeypatch.setenv("CASEROOM_DEFAULT_PLATFORM", "teams")
    monkeypatch.setenv("SALESFORCE_ORG_ID", "12345")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    message = str(exc.value)
    for name in ("CASEROOM_DATABASE_URL", "CASEROOM_DEFAULT_PLATFORM", "SALESFORCE_ORG_ID"):
        assert name in message
    result = CliRunner().invoke(cli, ["check-config"])
    assert result.exit_code == 2 and "CASEROOM_DEFAULT_PLATFORM" in result.output


def test_the_default_platform_is_one_an_installed_plugin_adds_and_is_required_among_several(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBEX_ACCESS_TOKEN", "webex-token")
    assert load_settings().default_platform is None  # one platform configured: it takes every case
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    with pytest.raises(ConfigError, match=r"CASEROOM_DEFAULT_PLATFORM: required when several .*\(slack, webex\)"):
        load_settings()
    monkeypatch.setenv("CASEROOM_DEFAULT_PLATFORM", "slack")
    assert load_settings().default_platform == "slack"
    with pytest.raises(ConfigError, match=r"installed chat platforms \(webex\), not 'slack'"):
        load_settings([webex_plugin])


def test_credentials_come_in_pairs_and_base_urls_get_their_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        load_settings()
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("WEBEX_BASE_URL", "http://127.0.0.1:9000/v1")
    s = load_settings()
    assert s.section(WebexSettings).base_url == "http://127.0.0.1:9000/v1/"
    assert s.has_credentials and not s.sandbox_mode
    assert "xoxb-1" not in repr(s)


def test_health_and_metrics(tmp_path: Path, state_file: Path) -> None:
    rt, _ = runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", state_file)
    client = TestClient(rt.app)
    assert client.get("/healthz").json() == {"ok": True, "database": "sqlite", "platforms": ["webex"],
                                             "crms": ["webhook"]}  # fmt: skip
    timed = 'caseroom_webhook_seconds_count{source="crm"}'
    duplicates = 'caseroom_webhooks_total{outcome="duplicate",source="crm"}'
    before = client.get("/metrics").text
    body = encode(case_event())
    client.post("/webhooks/crm", content=body, headers=signed_headers(body))
    client.post("/webhooks/crm", content=body, headers=signed_headers(body))
    text = client.get("/metrics").text
    assert _sample(text, duplicates) == _sample(before, duplicates) + 1
    assert 'caseroom_job_queue{status="queued"} 1.0' in text
    assert _sample(text, timed) == _sample(before, timed) + 2


NOW = datetime(2026, 11, 22, 18, 30, tzinfo=UTC)  # the replicas' clock in the scheduler test


def count_lock_attempts(rt: Runtime) -> Callable[[], int]:
    """Count this replica's tries at the scheduler leader lock (a would-be usurper keeps trying)."""
    calls = 0
    real = rt.db.try_leader_lock

    def counting(name: str) -> Any:
        nonlocal calls
        calls += 1
        return real(name)

    rt.db.try_leader_lock = counting  # type: ignore[method-assign]
    return lambda: calls


def _sample(text: str, series: str) -> float:
    """A series' value in Prometheus text (the registry is per process, so tests compare before and after)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.postgres
def test_only_one_replica_leads_the_scheduler_and_another_takes_over(pg_url: str, state_file: Path) -> None:
    replicas = [runtime(pg_url, state_file)[0] for _ in range(3)]
    attempts = [count_lock_attempts(rt) for rt in replicas]
    for rt in replicas:
        rt.services.clock = lambda: NOW
    every_second = [Periodic("maintenance.purge", 1)]
    schedulers = [LeaderScheduler(rt.services, every_second, retry_seconds=0.2) for rt in replicas]
    for s in schedulers:
        s.start()
    try:
        wait_until(lambda: any(s.is_leader.is_set() for s in schedulers), 10, lambda: "no scheduler leader")
        # Every would-be usurper tries the lock several more times while the leader holds it.
        tried = [n() for n in attempts]
        others = [i for i, s in enumerate(schedulers) if not s.is_leader.is_set()]
        wait_until(lambda: all(attempts[i]() >= tried[i] + 3 for i in others), 10,
                   lambda: f"lock attempts {[n() for n in attempts]}, before {tried}")  # fmt: skip
        leaders = [s for s in schedulers if s.is_leader.is_set()]
        assert len(leaders) == 1
        leaders[0].stop()
        wait_until(lambda: any(s.is_leader.is_set() for s in schedulers if s is not leaders[0]), 10,
                   lambda: "no replica took over the scheduler")  # fmt: skip
        assert sum(s.is_leader.is_set() for s in schedulers) == 1
    finally:
        for s in schedulers:
            s.stop()
    # Ticks of the periodic job are keyed per period: several ticks in one period enqueue one job.
    sched = schedulers[1]
    sched.tick(Periodic("maintenance.purge", 3600))
    sched.tick(Periodic("maintenance.purge", 3600))
    purge_jobs = [j for j in replicas[0].queue.list() if j.key and j.key.startswith("periodic:maintenance.purge:")]
    assert [j.key for j in purge_jobs].count(f"periodic:maintenance.purge:{int(NOW.timestamp()) // 3600}") == 1


def test_a_new_leader_keeps_the_schedule_stored_in_the_database(tmp_path: Path, state_file: Path) -> None:
    rt = runtime(f"sqlite:///{tmp_path / 'sched.db'}", state_file)[0]
    hourly = [Periodic("maintenance.purge", 3600)]

    def lead() -> LeaderScheduler:
        s = LeaderScheduler(rt.services, hourly, retry_seconds=0.1)
        s.start()
        assert s.is_leader.wait(10), "no scheduler leader"
        return s

    first = lead()
    assert first._scheduler is not None
    due = first._scheduler.get_job("maintenance.purge").next_run_time
    first.stop()
    # A restart that reset the interval would schedule from its own start, strictly later (to the microsecond).
    second = lead()
    try:
        assert second._scheduler is not None
        assert second._scheduler.get_job("maintenance.purge").next_run_time == due
    finally:
        second.stop()


def test_the_leader_enqueues_each_period_also_from_a_schedule_an_earlier_release_stored(
    tmp_path: Path, state_file: Path
) -> None:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.scheduler import JOB_TABLE, due, run_periodic

    rt = runtime(f"sqlite:///{tmp_path / 'sched.db'}", state_file)[0]
    earlier = BackgroundScheduler(timezone="UTC")  # as earlier code stored it: naming its leader by id
    earlier.add_jobstore(SQLAlchemyJobStore(engine=rt.db.engine, tablename=JOB_TABLE), "default")
    earlier.start(paused=True)
    earlier.add_job(run_periodic, "interval", seconds=1, args=["a-leader-long-gone", "maintenance.purge", 1],
                    id="maintenance.purge")  # fmt: skip
    earlier.shutdown(wait=False)

    leader = LeaderScheduler(rt.services, [Periodic("maintenance.purge", 1)], retry_seconds=0.1)
    leader.start()
    try:
        wait_until(lambda: any((j.key or "").startswith("periodic:maintenance.purge:") for j in rt.queue.list()), 10,
                   lambda: "the stored schedule enqueued nothing")  # fmt: skip
        assert leader._scheduler is not None and leader._scheduler.get_job("maintenance.purge").func is due
    finally:
        leader.stop()

def test_a_worker_process_serves_its_own_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = command_env(CASEROOM_DATABASE_URL=f"sqlite:///{tmp_path / 'worker.db'}", WEBEX_ACCESS_TOKEN="t")
    proc = subprocess.Popen([CASEROOM, "worker", "--count", "1", "--metrics-port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        output = proc.stdout.read if proc.stdout else str
        scraped = first_answer(proc, f"http://127.0.0.1:{port}/metrics", 30, output)
        assert scraped.status_code == 200
        assert "# TYPE caseroom_jobs_total counter" in scraped.text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out


def test_two_runtimes_in_one_process_keep_their_own_pacing_and_health(tmp_path: Path) -> None:
    """Pacing and the integration health record belong to a runtime: building a second one changes neither."""
    from bot.models import JobStatus, utcnow
    from tests.webex_world import webex_world

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        webex_world(tmp_path / "a", WEBEX_RATE_LIMITS="rooms.create=1/3600") as paced,
        webex_world(tmp_path / "b") as unpaced,  # built second: it must not lift the first one's pacing
    ):
        assert unpaced.rt.services.health.snapshot()["webex"].calls_ok == 0  # set-up calls are nobody's health

        for n, number in enumerate(("00000001", "00000002")):
            paced.deliver(event_id=f"a{n}", number=number)
        later = utcnow() + timedelta(minutes=30)
        paced.settle(lambda: any(j.status == JobStatus.QUEUED and j.attempts == 0 and j.run_at > later
                                 for j in paced.rt.queue.list()), idle=False)  # fmt: skip
        assert len(paced.emu.snapshot()["rooms"]) == 1  # the second room waits for its window, no attempt spent
        assert paced.rt.services.health.snapshot()["webex"].calls_ok > 0
        assert unpaced.rt.services.health.snapshot()["webex"].calls_ok == 0

        for n, number in enumerate(("00000001", "00000002")):
            unpaced.deliver(event_id=f"b{n}", number=number)
        unpaced.settle(lambda: len(unpaced.emu.snapshot()["rooms"]) == 2)
