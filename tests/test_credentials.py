"""Credentials go only to their own system's origins: a file elsewhere is refused, a redirect elsewhere drops them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import requests
from caseroom_sandbox.salesforce import SalesforceEmulator

from integrations import origins
from integrations.crm import PermanentCRMError
from tests.foreign_host import foreign_host
from tests.slack_world import slack_world
from tests.test_salesforce_adapter import emulator, port  # noqa: F401  (the fixture)
from tests.webex_world import webex_world

TOKEN = "Bearer the-bot-token"
KENJI = "kenji@support.example"
CUSTOMER = "carol@customer.example"


def test_a_link_to_another_origin_is_refused_before_any_request() -> None:
    with foreign_host() as own, foreign_host() as elsewhere:
        allowed = origins.Origins([own.url + "/v1/"])
        for url in (f"{elsewhere.url}/v1/contents/x", f"{own.url.replace('http:', 'https:')}/v1/contents/x",
                    "file:///etc/passwd", "not a url"):  # fmt: skip
            with pytest.raises(origins.ForeignOrigin):
                origins.get(requests.Session(), url, allowed=allowed, system="Webex",
                            credentials={"Authorization": TOKEN})  # fmt: skip
        assert own.seen == [] and elsewhere.seen == []


def test_a_redirect_to_another_origin_is_followed_without_the_token() -> None:
    with foreign_host() as own, foreign_host() as cdn:
        own.redirect_to = f"{cdn.url}/blob/1"
        session = requests.Session()
        session.headers["Authorization"] = TOKEN  # as the Webex SDK keeps it: on the session itself
        resp = origins.get(session, f"{own.url}/v1/contents/1", allowed=origins.Origins([own.url]), system="Webex")
        assert resp.content == b"bytes from elsewhere"
        assert own.authorizations() == [TOKEN] and cdn.authorizations() == [None]

        # A redirect straight back home gets the token again: the origin decides, not the hop count.
        cdn.redirect_to = f"{own.url}/v1/contents/2"
        own.redirect_to = None
        origins.get(requests.Session(), f"{own.url}/v1/contents/3", allowed=origins.Origins([own.url]),
                    system="Slack", credentials={"Authorization": TOKEN})  # fmt: skip
        assert own.authorizations()[1:] == [TOKEN]


def test_a_bound_session_drops_the_token_on_any_change_of_origin() -> None:
    with foreign_host() as own, foreign_host() as elsewhere:
        own.redirect_to = f"{elsewhere.url}/services/data"
        origins.BoundSession().get(f"{own.url}/services/data", headers={"Authorization": TOKEN})
        assert own.authorizations() == [TOKEN] and elsewhere.authorizations() == [None]


def test_a_webex_file_on_another_host_is_never_fetched_and_the_room_is_told(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="integrations.origins")
    with webex_world(tmp_path) as w, foreign_host() as elsewhere:
        w.deliver()
        w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
        room_id = w.room()["id"]
        w.rt.settings.job_backoff_base_seconds = 0
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="see the attachment",
              file={"link": f"{elsewhere.url}/v1/contents/steal"})  # fmt: skip
        w.settle(lambda: any("could not be filed" in t for t in w.texts(room_id)), idle=False)
        [notice] = [t for t in w.texts(room_id) if "could not be filed" in t]
        assert f"it is on {elsewhere.url}, not on Webex" in notice
        assert elsewhere.seen == []
        assert not w.state.calls("crm.attach_file")
        assert any("refused to fetch" in r.getMessage() for r in caplog.records)

        # Closure exports the same message again: the link is still not fetched, and closure still completes.
        w.deliver(event_id="evt_close", type_="case.closed", occurred_at="2026-11-23T09:00:00Z", status="Closed")
        w.settle(lambda: any(c["name"].endswith("transcript.json") for c in w.state.calls("crm.attach_file")),
                 timeout=30)  # fmt: skip
        assert elsewhere.seen == []


def test_a_slack_remote_file_is_never_fetched_with_the_bot_token(tmp_path: Path) -> None:
    with slack_world(tmp_path) as w, foreign_host() as elsewhere:
        cid = w.opened()["id"]
        w.emu.act_join(KENJI, cid)
        w.emu.act_message(KENJI, cid, "the design doc",
                          file={"name": "design.gdoc", "external_url": f"{elsewhere.url}/document/d/1"})  # fmt: skip
        w.settle(lambda: any("could not be filed" in t for t in w.texts(cid)), idle=False)
        [notice] = [t for t in w.texts(cid) if "could not be filed" in t]
        assert "not on Slack" in notice
        assert elsewhere.seen == []
        assert not w.state.calls("crm.attach_file")


def test_a_salesforce_login_naming_another_instance_gets_no_session(
    emulator: SalesforceEmulator,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with foreign_host() as login, foreign_host() as elsewhere:
        login.media_type = "application/json"
        login.body = json.dumps({"access_token": "00D!session", "instance_url": elsewhere.url}).encode()
        crm = port(emulator, monkeypatch, SALESFORCE_LOGIN_URL=login.url, SALESFORCE_USERNAME="integration@x.example",
                   SALESFORCE_PASSWORD="pw", SALESFORCE_CONSUMER_KEY="key",
                   SALESFORCE_CONSUMER_SECRET="secret")  # fmt: skip
        with pytest.raises(PermanentCRMError, match="sends the session only to the configured instance"):
            crm.read_case("500000000000001AAA")
        assert [path for path, _ in login.seen] == ["/services/oauth2/token"]
        assert elsewhere.seen == []
