"""Every inbound parser, fuzzed: whatever arrives, the answer is a 2xx/4xx (never a 500) and anything not
accepted leaves no trace in the database."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.models import Delivery, Job
from bot.runtime import Runtime
from integrations.slack.plugin import plugin as slack_plugin
from integrations.webex.plugin import plugin as webex_plugin
from tests.slack_world import slack_signed
from tests.support import case_event, encode, signed_headers
from tests.support import settings as caseroom_settings

SLACK_SECRET, WEBEX_SECRET = "slack-fuzz-secret", "webex-fuzz-secret"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> tuple[Runtime, TestClient]:
    tmp = tmp_path_factory.mktemp("fuzz")
    s = caseroom_settings(f"sqlite:///{tmp / 'db.sqlite'}", WEBEX_ACCESS_TOKEN="fuzz",
                          WEBEX_WEBHOOK_SECRET=WEBEX_SECRET, SLACK_BOT_TOKEN="xoxb-fuzz",
                          SLACK_SIGNING_SECRET=SLACK_SECRET)  # fmt: skip
    rt = Runtime(s, plugins=[webex_plugin, slack_plugin])
    return rt, TestClient(rt.app, raise_server_exceptions=False)


def rows(rt: Runtime) -> tuple[int, int]:
    with rt.db.session() as s:
        return (s.execute(select(func.count()).select_from(Delivery)).scalar_one(),
                s.execute(select(func.count()).select_from(Job)).scalar_one())  # fmt: skip


def slack_headers(body: bytes, *, at: float | None = None) -> dict[str, str]:
    return slack_signed(body, at=at, secret=SLACK_SECRET)


def webex_headers(body: bytes) -> dict[str, str]:
    return {"X-Spark-Signature": hmac.new(WEBEX_SECRET.encode(), body, hashlib.sha1).hexdigest(),
            "Content-Type": "application/json"}  # fmt: skip


@FUZZ
@given(body=st.binary(max_size=2000) | json_values.map(lambda v: json.dumps(v).encode()))
def test_crm_webhook_never_fails_on_signed_garbage(service: tuple[Runtime, TestClient], body: bytes) -> None:
    rt, client = service
    before = rows(rt)
    r = client.post("/webhooks/crm", content=body, headers=signed_headers(body))
    assert r.status_code in (200, 400), r.text
    if r.status_code != 200:
        assert rows(rt) == before


@FUZZ
@given(subject=st.text(max_size=300), name=st.text(max_size=80),
       number=st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True))
def test_crm_webhook_takes_any_unicode_in_names_and_subjects(
    service: tuple[Runtime, TestClient], subject: str, name: str, number: str
) -> None:
    _, client = service
    event = case_event(f"evt-{hashlib.sha1((subject + name + number).encode()).hexdigest()}", number=number,
                       subject=subject)  # fmt: skip
    event["case"]["customer"]["name"] = name  # type: ignore[index]
    body = encode(event)
    r = client.post("/webhooks/crm", content=body, headers=signed_headers(body))
    assert r.status_code == 200, r.text


@FUZZ
@given(body=st.binary(max_size=2000) | json_values.map(lambda v: json.dumps(v).encode()))
def test_webex_webhook_never_fails_on_signed_garbage(service: tuple[Runtime, TestClient], body: bytes) -> None:
    rt, client = service
    before = rows(rt)
    r = client.post("/webhooks/webex", content=body, headers=webex_headers(body))
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert rows(rt) == before


@FUZZ
@given(body=st.binary(max_size=2000), forged=st.booleans())
def test_slack_events_never_fail_and_refuse_bad_signatures(
    service: tuple[Runtime, TestClient], body: bytes, forged: bool
) -> None:
    rt, client = service
    before = rows(rt)
    headers = slack_headers(body)
    if forged:
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    r = client.post("/slack/events", content=body, headers=headers)
    assert r.status_code < 500, r.text
    if forged:
        assert r.status_code == 401
    if r.status_code >= 400:
        assert rows(rt) == before


@FUZZ
@given(event=st.fixed_dictionaries({"type": st.sampled_from(["message", "member_joined_channel", "file_shared",
                                                              "member_left_channel", "app_mention", "other"])},
                                   optional={"channel": st.text(max_size=12), "user": st.text(max_size=12),
                                             "subtype": st.text(max_size=20), "text": st.text(max_size=50)}),
       event_id=st.text(min_size=1, max_size=20))  # fmt: skip
def test_slack_event_envelopes_of_any_shape_are_acknowledged(
    service: tuple[Runtime, TestClient], event: dict[str, str], event_id: str
) -> None:
    _, client = service
    body = json.dumps({"type": "event_callback", "event_id": event_id, "event": event, "team_id": "T1"}).encode()
    r = client.post("/slack/events", content=body, headers=slack_headers(body))
    assert r.status_code < 500, r.text


def test_stale_slack_requests_are_refused(service: tuple[Runtime, TestClient], tmp_path: Path) -> None:
    rt, client = service
    before = rows(rt)
    body = b'{"type":"event_callback","event_id":"E1","event":{"type":"member_joined_channel"}}'
    headers = slack_headers(body, at=time.time() - 600)
    assert client.post("/slack/events", content=body, headers=headers).status_code == 401
    assert rows(rt) == before
