"""Forged, replayed, malformed and oversized requests are refused with a clear error and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.models import Case, Delivery, Job
from bot.runtime import Runtime
from tests.support import case_event, encode, runtime, signed_headers


def row_counts(rt: Runtime) -> tuple[int, int, int]:
    with rt.db.session() as s:
        return tuple(s.execute(select(func.count()).select_from(t)).scalar_one() for t in (Delivery, Job, Case))  # type: ignore[return-value]


BODY = encode(case_event())
NOW = datetime(2026, 11, 22, 18, 0, 5, tzinfo=UTC)  # the service's clock in these tests, never the wall clock


def refused_headers(kind: str) -> dict[str, str]:
    at = NOW.timestamp()
    return {
        "unsigned": lambda: {"Content-Type": "application/json"},
        "forged": lambda: signed_headers(BODY, secret="not-the-secret", at=at),
        "replayed-old": lambda: signed_headers(BODY, at=at - 301),
        "from-the-future": lambda: signed_headers(BODY, at=at + 400),
        "bad-timestamp": lambda: {**signed_headers(BODY, at=at), "X-CaseRoom-Timestamp": "yesterday"},
    }[kind]()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("unsigned", "missing"),
        ("forged", "signature mismatch"),
        ("replayed-old", "stale"),
        ("from-the-future", "stale"),
        ("bad-timestamp", "unix time"),
    ],
)
def test_unauthenticated_requests_get_401_and_change_nothing(
    db_url: str, state_file: Path, kind: str, reason: str
) -> None:
    rt, _ = runtime(db_url, state_file)
    rt.services.clock = lambda: NOW
    headers = refused_headers(kind)
    r = TestClient(rt.app).post("/webhooks/crm", content=BODY, headers=headers)
    assert r.status_code == 401
    assert reason in r.json()["error"]
    assert row_counts(rt) == (0, 0, 0)


def test_a_tampered_body_with_a_valid_signature_of_another_body_is_refused(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    tampered = BODY.replace(b"carol@customer.example", b"mallory@evil.example")
    r = TestClient(rt.app).post("/webhooks/crm", content=tampered, headers=signed_headers(BODY))
    assert r.status_code == 401
    assert row_counts(rt) == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (encode({**case_event(), "type": "case.exploded"}), "type"),
        (encode({**case_event(), "occurred_at": "2026-11-22T18:00:00"}), "occurred_at"),
        (encode(case_event(customer="not-an-email")), "case.customer.email"),
        (encode({k: v for k, v in case_event().items() if k != "case"}), "case"),
        (encode(case_event(number="00001234/../../etc")), "case.number"),
        (encode({**case_event(), "case": {**case_event()["case"], "platform": "teams"}}),
         "case.platform: 'teams' is not a chat platform configured here (webex)"),
    ],
    ids=["not-json", "unknown-type", "naive-time", "bad-email", "no-case", "hostile-number", "unknown-platform"],
)
def test_malformed_events_get_400_naming_the_field_and_change_nothing(
    db_url: str, state_file: Path, body: bytes, needle: str
) -> None:
    rt, _ = runtime(db_url, state_file)
    r = TestClient(rt.app).post("/webhooks/crm", content=body, headers=signed_headers(body))
    assert r.status_code == 400
    assert needle in r.json()["error"]
    assert row_counts(rt) == (0, 0, 0)


def test_bodies_over_one_mebibyte_get_413_and_change_nothing(db_url: str, state_file: Path) -> None:
    rt, _ = runtime(db_url, state_file)
    client = TestClient(rt.app)
    big = encode({**case_event(), "padding": "x" * (1024 * 1024)})
    r = client.post("/webhooks/crm", content=big, headers=signed_headers(big))
    assert r.status_code == 413
    # Without a Content-Length (chunked), the limit still holds while the body streams in.
    chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
    r = client.post("/webhooks/crm", content=chunks, headers=signed_headers(big))
    assert r.status_code == 413
    assert row_counts(rt) == (0, 0, 0)
    just_under = encode({**case_event(), "padding": "x" * (1024 * 1024 - 1000)})
    assert client.post("/webhooks/crm", content=just_under, headers=signed_headers(just_under)).status_code == 200


def test_without_a_configured_secret_every_crm_webhook_is_refused(tmp_path: Path, state_file: Path) -> None:
    rt, _ = runtime(f"sqlite:///{tmp_path / 'db.sqlite'}", state_file, CASEROOM_CRM_WEBHOOK_SECRET=None)
    r = TestClient(rt.app).post("/webhooks/crm", content=BODY, headers=signed_headers(BODY))
    assert r.status_code == 401 and "CASEROOM_CRM_WEBHOOK_SECRET" in r.json()["error"]
    assert row_counts(rt) == (0, 0, 0)
