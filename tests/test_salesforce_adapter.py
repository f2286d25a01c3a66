"""Salesforce end to end: Outbound Messages in, the case written back, transcripts filed — against the emulator."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
import pytest
from caseroom_sandbox.salesforce import SalesforceEmulator

from bot.config import ConfigError, Settings, load_settings
from integrations.crm import TransientCRMError, split_bytes
from integrations.salesforce import digest, reconcile
from integrations.salesforce.client import Connection
from integrations.salesforce.crm import SalesforceCRM
from integrations.salesforce.plugin import plugin as salesforce_plugin
from integrations.salesforce.settings import SalesforceSettings
from tests.salesforce_world import CUSTOMER, ORG_ID, SalesforceWorld, salesforce_world

ACK = re.compile(r"<notificationsResponse xmlns=\"http://soap.sforce.com/2005/09/outbound\"><Ack>true</Ack>"
                 r"</notificationsResponse>")  # fmt: skip


def soap(notes: list[tuple[str, dict[str, str]]], org: str = ORG_ID) -> str:
    """An Outbound Message envelope as Salesforce writes it."""
    body = "".join(
        f"<Notification><Id>{note_id}</Id>"
        '<sObject xsi:type="sf:Case" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        + "".join(f"<sf:{k}>{v}</sf:{k}>" for k, v in fields.items())
        + "</sObject></Notification>"
        for note_id, fields in notes
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        f'<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId>'
        f'<ActionId>04k000000000001AAA</ActionId><SessionId xsi:nil="true"/>{body}</notifications>'
        "</soapenv:Body></soapenv:Envelope>"
    )


def opened(w: SalesforceWorld, **kw: str | None) -> tuple[str, str]:
    case_id = w.open_case(**kw)  # type: ignore[arg-type]
    w.settle(lambda: bool(w.case(case_id).get("Room_URL__c")))
    return case_id, w.room()["id"]


def test_a_new_case_gets_a_room_its_people_and_the_url_on_the_case(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        case_id, room_id = opened(w)
        case = w.case(case_id)
        assert case["Room_URL__c"] == f"https://caseroom.example/rooms/{case['CaseNumber']}"
        assert w.room()["title"].startswith(f"Case {case['CaseNumber']}")
        members = w.members(room_id)
        assert "ada@support.example" in members and CUSTOMER[0] in members
        # Only the Flow's notification reached us, and it was acknowledged with the exact envelope.
        sent = w.sf.outbound.history()
        assert sent and all(d["ok"] for d in sent), sent


def test_the_write_back_does_not_trigger_assignment_rules(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        w.sf.set_knobs(assignment_rule_owner=w.users["kenji@support.example"])
        case_id, _ = opened(w)
        # Without Sforce-Auto-Assign: FALSE the rule would have handed the case to Kenji.
        assert w.case(case_id)["OwnerId"] == w.users["ada@support.example"]


def test_owner_change_rotates_to_the_new_engineer_with_one_card(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        case_id, room_id = opened(w)
        w.sf.update_case(case_id, OwnerId=w.users["kenji@support.example"])
        w.settle(lambda: "kenji@support.example" in w.members(room_id))
        w.settle()
        cards = [t for t in w.texts(room_id) if "Kenji" in t and "Ada" in t and "hand" in t.lower()]
        assert len(cards) == 1, w.texts(room_id)
        assert any("CaseRoom:" in c["CommentBody"] and "Kenji" in c["CommentBody"] for c in w.case(case_id)["comments"])


def test_a_queue_owned_case_opens_with_the_customer_and_is_handed_over_when_taken(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        queue = w.sf.add_queue("EMEA Tier 2")
        case_id, room_id = opened(w, owner=queue)
        assert w.members(room_id) == sorted([CUSTOMER[0], "observer@sandbox.example", w.webex.bot.email])
        assert any("Waiting for an engineer" in t for t in w.texts(room_id))
        w.sf.update_case(case_id, OwnerId=w.users["kenji@support.example"])
        w.settle(lambda: "kenji@support.example" in w.members(room_id))
        w.settle(lambda: any("CaseRoom: Taken by Kenji" in c["CommentBody"] for c in w.case(case_id)["comments"]))
        # Taking the case from the queue is a handoff: one card in the room and one comment on the case.
        cards = [t for t in w.texts(room_id) if t.startswith("Taken by Kenji Sato")]
        assert len(cards) == 1, w.texts(room_id)
        assert "taken from the queue in the CRM" in cards[0]
        comments = [c["CommentBody"] for c in w.case(case_id)["comments"] if "Taken by" in c["CommentBody"]]
        assert len(comments) == 1, comments


def test_closure_files_the_transcript_and_the_shared_files_on_the_case(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        case_id, room_id = opened(w)
        w.webex_act("act/message", as_email=CUSTOMER[0], room_id=room_id, text="Here is the log", file={
            "name": "router.log", "mime": "text/plain", "content_b64": base64.b64encode(b"line\n" * 50).decode()})
        w.settle(lambda: any(f["path"] == "router.log" for f in w.case(case_id)["files"]))
        w.sf.update_case(case_id, Status="Closed")
        w.settle(lambda: any(f["path"].endswith(".html") for f in w.case(case_id)["files"]))
        w.settle()
        case = w.case(case_id)
        paths = sorted(f["path"] for f in case["files"])
        assert paths == sorted(["router.log", f"case-{case['CaseNumber']}-transcript.html",
                                f"case-{case['CaseNumber']}-transcript.json"]), paths  # fmt: skip
        assert any("transcript" in c["CommentBody"].lower() for c in case["comments"]), case["comments"]
        assert w.members(room_id) == [w.webex.bot.email]


def test_the_same_notification_three_times_and_out_of_order_ones_make_one_effect(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        w.sf.set_outbound_url(None)  # we play the Flow ourselves, with full control of order and repeats
        case_id = w.open_case()
        created = w.case(case_id)
        w.sf.update_case(case_id, OwnerId=w.users["kenji@support.example"])
        changed = w.case(case_id)
        fields = {k: str(changed[k]) for k in ("Id", "CaseNumber", "Subject", "OwnerId", "LastModifiedDate")}
        old = {**fields, "OwnerId": created["OwnerId"], "LastModifiedDate": created["LastModifiedDate"]}
        newer, older = soap([("04l00000000000AAA1", fields)]), soap([("04l00000000000AAA0", old)])
        for body in (newer, newer, newer, older):
            r = w.post_soap(body)
            assert r.status_code == 200 and ACK.search(r.text), r.text
        w.settle(lambda: bool(w.case(case_id).get("Room_URL__c")))
        w.settle()
        room_id = w.room()["id"]  # exactly one room
        members = w.members(room_id)
        assert "kenji@support.example" in members and "ada@support.example" not in members  # newest state won
        assert sum("Welcome to the room" in t for t in w.texts(room_id)) == 1


def test_a_foreign_org_is_refused_with_403_and_changes_nothing(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        w.sf.set_outbound_url(None)
        case_id = w.open_case()
        body = soap([("04l00000000000AAA2", {"Id": case_id, "CaseNumber": "00001001"})], org="00D000000000002EAA")
        r = w.post_soap(body)
        assert r.status_code == 403 and "OrganizationId" in r.text
        w.settle()
        assert w.rooms() == [] and w.rt.queue.counts().get("done", 0) == 0


def test_a_forged_message_from_our_org_id_changes_nothing_the_org_does_not_say(tmp_path: Path) -> None:
    """Outbound Messages are unsigned: one that claims a far-future change and a closure is only a cue to re-read."""
    with salesforce_world(tmp_path) as w:
        case_id, room_id = opened(w)
        forged = {"Id": case_id, "CaseNumber": "00001001", "IsClosed": "true", "Status": "Closed",
                  "LastModifiedDate": "2099-01-01T00:00:00.000Z", "OwnerId": w.users["kenji@support.example"]}
        assert w.post_soap(soap([("04l00000000000AAF1", forged)])).status_code == 200
        w.settle()
        assert CUSTOMER[0] in w.members(room_id) and "kenji@support.example" not in w.members(room_id)
        w.sf.update_case(case_id, OwnerId=w.users["kenji@support.example"])  # the real change still applies
        w.settle(lambda: "kenji@support.example" in w.members(room_id))


@pytest.mark.parametrize("org", ["00D000000000001EAB", "00D000000000001eaa", "00d000000000001EAA"])
def test_an_org_id_that_agrees_only_in_its_first_15_characters_is_refused(tmp_path: Path, org: str) -> None:
    with salesforce_world(tmp_path) as w:
        w.sf.set_outbound_url(None)
        case_id = w.open_case()
        r = w.post_soap(soap([("04l00000000000AAA3", {"Id": case_id, "CaseNumber": "00001001"})], org=org))
        assert r.status_code == 403 and "OrganizationId" in r.text
        assert w.rooms() == [] and w.rt.queue.counts() == {}


def test_the_15_character_org_id_an_admin_copied_stands_for_its_18_character_form(tmp_path: Path) -> None:
    with salesforce_world(tmp_path, SALESFORCE_ORG_ID=ORG_ID[:15]) as w:
        opened(w)  # the emulator's Outbound Message names the org by its 18 characters
    with pytest.raises(ConfigError, match=f"SALESFORCE_ORG_ID: .*that would be {ORG_ID}"):
        load_settings([salesforce_plugin], SALESFORCE_INSTANCE_URL="https://x.example",
                      SALESFORCE_ORG_ID=ORG_ID[:15] + "AAA")  # fmt: skip


@pytest.mark.parametrize(
    "hostile",
    [
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>',
        "<not-xml",
        soap([]),
    ],
    ids=["xxe", "entity-bomb", "malformed", "empty"],
)
def test_hostile_or_malformed_xml_is_refused_with_400(tmp_path: Path, hostile: str) -> None:
    with salesforce_world(tmp_path) as w:
        r = w.post_soap(hostile)
        assert r.status_code == 400, r.text
        assert "Fault" in r.text and "/etc/passwd" not in r.text
        assert w.rt.queue.counts() == {}


def test_a_lost_notification_is_healed_by_reconciliation(tmp_path: Path) -> None:
    with salesforce_world(tmp_path) as w:
        w.sf.set_outbound_url(None)  # the Flow's messages are lost (Salesforce gave up after 24 h)
        case_id = w.open_case()
        w.settle()
        assert w.rooms() == []
        w.rt.queue.submit(reconcile.KIND, {}, key="sweep-1")
        w.settle(lambda: bool(w.case(case_id).get("Room_URL__c")))
        assert w.members(w.room()["id"]).count("ada@support.example") == 1
        # A second sweep with nothing new changes nothing.
        w.rt.queue.submit(reconcile.KIND, {}, key="sweep-2")
        w.settle()
        assert len(w.rooms()) == 1


# -- the CRM port directly against the emulator -------------------------------------------------------------
@pytest.fixture
def emulator() -> SalesforceEmulator:
    emu = SalesforceEmulator(org_id=ORG_ID, seed=3)
    emu.start()
    yield emu  # type: ignore[misc]
    emu.close()


def port(emu: SalesforceEmulator, monkeypatch: pytest.MonkeyPatch, inline: int = 30_000_000,
         **creds: str) -> SalesforceCRM:  # fmt: skip
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.tls.bundle_path))
    values = {"SALESFORCE_INSTANCE_URL": emu.instance_url, "SALESFORCE_ORG_ID": ORG_ID,
              "CASEROOM_DATABASE_URL": "sqlite://", **creds}  # fmt: skip
    if not creds:
        values["SALESFORCE_ACCESS_TOKEN"] = emu.access_token
    return SalesforceCRM(Connection(Settings(**values).section(SalesforceSettings)), inline_file_bytes=inline)


def test_long_notes_are_split_at_4000_bytes_in_order(emulator: SalesforceEmulator,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    crm = port(emulator, monkeypatch)
    case_id = emulator.open_case("Disk full", "", *CUSTOMER)["Id"]
    text = "Ünïcödé notes. " * 700  # 11,200 characters, ~14,000 bytes
    crm.add_comment(case_id, text)
    bodies = [c["CommentBody"] for c in emulator.case_detail(case_id)["comments"]]
    assert len(bodies) == 4 and all(len(b.encode()) <= 4000 for b in bodies)
    assert bodies[0].startswith("(1/4) ") and bodies[3].startswith("(4/4) ")
    assert "".join(split_bytes(text, 4000)).replace(" ", "") == text.replace(" ", "")


def test_files_over_the_json_limit_go_multipart(emulator: SalesforceEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    crm = port(emulator, monkeypatch, inline=1000)
    case_id = emulator.open_case("Core dump", "", *CUSTOMER)["Id"]
    small = crm.attach_file(case_id, "small.txt", b"s" * 10, "text/plain")
    big = crm.attach_file(case_id, "core.bin", bytes(range(256)) * 40, "application/octet-stream")
    files = {f["path"]: f for f in emulator.case_detail(case_id)["files"]}
    assert files["small.txt"]["size"] == 10 and files["core.bin"]["size"] == 10240
    assert {small, big} == {files["small.txt"]["content_version_id"], files["core.bin"]["content_version_id"]}
    assert emulator.org.blobs[big] == bytes(range(256)) * 40


@pytest.mark.parametrize("inline", [10_000, 1], ids=["json", "multipart"])
def test_a_hostile_file_name_is_filed_under_a_safe_one_and_kept_visible_in_the_description(
        emulator: SalesforceEmulator, monkeypatch: pytest.MonkeyPatch, inline: int) -> None:  # fmt: skip
    crm = port(emulator, monkeypatch, inline=inline)
    case_id = emulator.open_case("Odd upload", "", *CUSTOMER)["Id"]
    hostile = "../../etc/passwd <@all> <!channel>\u202etxt.exe\x1b[0m\n ..."
    crm.attach_file(case_id, hostile, b"x", "text/plain")
    crm.attach_file(case_id, "trace.pcap", b"y", "application/vnd.tcpdump.pcap")
    files = {f["path"]: f for f in emulator.case_detail(case_id)["files"]}
    assert set(files) == {"passwd _@all_ _!channel_txt.exe[0m", "trace.pcap"}, files
    filed = files["passwd _@all_ _!channel_txt.exe[0m"]
    assert filed["title"] == "passwd _@all_ _!channel_txt"
    assert filed["description"] == ("Shared in the case room (text/plain); original name: "
                                    "../../etc/passwd <@all> <!channel>\\u202etxt.exe\\x1b[0m\\n ...")  # fmt: skip
    assert files["trace.pcap"]["description"] == "Shared in the case room (application/vnd.tcpdump.pcap)"


def test_an_expired_session_is_renewed_by_logging_in_again(emulator: SalesforceEmulator,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    user = emulator.add_user("integration@customer.example", "Integration User")
    assert user
    crm = port(emulator, monkeypatch, SALESFORCE_LOGIN_URL=emulator.instance_url,
               SALESFORCE_USERNAME="integration@customer.example", SALESFORCE_PASSWORD="pw",
               SALESFORCE_CONSUMER_KEY="key", SALESFORCE_CONSUMER_SECRET="secret")  # fmt: skip
    case_id = emulator.open_case("Slow", "", *CUSTOMER)["Id"]
    assert crm.read_case(case_id) is not None
    emulator.expire_sessions()
    snap = crm.read_case(case_id)
    assert snap is not None and snap.customer is not None and snap.customer.email == CUSTOMER[0]
    # A bare access token cannot renew itself: the error says so and the job will retry.
    fixed = port(emulator, monkeypatch)
    emulator.expire_sessions()
    with pytest.raises(TransientCRMError, match="cannot be renewed"):
        fixed.read_case(case_id)


def left_and_digested(w: SalesforceWorld) -> tuple[str, str]:
    """A case whose engineer left its room, and the digest that reported it; the case's and the room's ids."""
    case_id, room_id = opened(w)
    w.webex_act("act/leave", email="ada@support.example", room_id=room_id)
    w.settle(lambda: any("left" in t for t in w.texts(room_id)))
    w.rt.queue.submit(digest.KIND, {}, key="digest-1")
    w.settle(lambda: len(w.case(case_id)["feed_items"]) == 1)
    return case_id, room_id


def test_room_activity_reaches_the_case_as_one_digest_and_api_usage_is_exported(tmp_path: Path) -> None:
    with salesforce_world(tmp_path, SALESFORCE_DIGEST_SECONDS=60) as w:
        case_id, _ = left_and_digested(w)
        w.rt.queue.submit(digest.KIND, {}, key="digest-2")  # nothing new: no second post
        w.settle()
        feed = w.case(case_id)["feed_items"]
        assert len(feed) == 1, feed
        assert "joined" in feed[0]["Body"] and "left" in feed[0]["Body"]
        metrics = httpx.get(f"{w.url}/metrics").text
        used = re.search(r'caseroom_crm_api_usage\{kind="used"\} (\d+)', metrics)
        assert used and int(used.group(1)) > 0, metrics[:2000]
