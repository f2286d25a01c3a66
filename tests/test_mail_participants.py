"""People in a case room by e-mail, end to end: CaseRoom's SMTP listener on a real TCP port, its mail handed to a
real SMTP server (the sandbox's aiosmtpd mailbox), the room in the Webex emulator."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot import timeline
from bot.models import Case, MailMember, MailState, Participant
from bot.runtime import Runtime
from integrations.mail.plugin import plugin as mail_plugin
from integrations.messaging import PermanentPlatformError
from integrations.webex.plugin import plugin as webex_plugin
from tests.mail_world import AUTHSERV, CAROL, DOMAIN, MailWorld, mail_world
from tests.test_exact_record import closed, filed
from tests.test_webex_adapter import direct_messages

ADA, DAVE = "ada@support.example", "dave@customer.example"
QUOTED_REPLY = """Restarting the tunnel fixed it, thank you.

Carol
--
Carol Customer | Customer Inc.

On Mon, Nov 23, 2026 at 10:00 AM CaseRoom <caseroom@reply.caseroom.example> wrote:
> Ada Lovelace: please restart the tunnel
> and tell me what you see
"""


@pytest.fixture
def m(tmp_path: Path) -> Iterator[MailWorld]:
    """A case whose customer's organisation keeps its people out of other orgs' Webex spaces: Carol is in by
    e-mail, and her invitation has arrived."""
    with mail_world(tmp_path) as world:
        world.w.emu.store.closed_domains.add("customer.example")
        world.w.deliver()
        world.w.settle(lambda: bool(world.mails()))
        yield world


def room_texts(m: MailWorld) -> list[str]:
    return m.w.texts(m.w.room()["id"])


def messages(m: MailWorld) -> list[timeline.TimelineEvent]:
    with m.w.rt.db.session() as s:
        case_id = s.exec(select(Case)).one().id
        assert case_id is not None
        return timeline.events(s, case_id, kinds={timeline.Kind.MESSAGE})


def timeline_of(m: MailWorld) -> list[timeline.TimelineEvent]:
    with m.w.rt.db.session() as s:
        case_id = s.exec(select(Case)).one().id
        assert case_id is not None
        return timeline.events(s, case_id)


def test_a_customer_webex_refuses_takes_part_by_email_and_her_reply_is_posted_as_her(m: MailWorld) -> None:
    [invitation] = m.mails()
    assert invitation["Subject"] == "[Case 00001234] VPN drops every hour"
    token = invitation["Reply-To"].split("+", 1)[1].split("@")[0]
    assert invitation["Reply-To"] == f"case-00001234+{token}@{DOMAIN}" and len(token) >= 24
    assert m.w.rt.services.stable_url("00001234") in invitation.text
    assert invitation["Auto-Submitted"] == "auto-generated"  # an out-of-office answers none of it
    texts = room_texts(m)
    assert any("Could not add carol@customer.example" in t for t in texts), texts
    assert any(t.startswith("Carol Customer takes part by e-mail") for t in texts), texts

    mid = m.send(QUOTED_REPLY)
    m.w.settle(lambda: any("(by e-mail)" in t for t in room_texts(m)))
    posted = [t for t in room_texts(m) if "(by e-mail)" in t]
    assert posted == ["Carol Customer (by e-mail):\nRestarting the tunnel fixed it, thank you.\n\nCarol"], posted
    [entry] = messages(m)
    assert (entry.actor_email, entry.data["via"], entry.data["mail_message_id"]) == (CAROL, "email", mid)

    m.send(QUOTED_REPLY, message_id=mid)  # her server sends it again (it never saw our 250): nothing new
    m.w.settle()
    assert len([t for t in room_texts(m) if "(by e-mail)" in t]) == 1 and len(messages(m)) == 1


def test_mail_that_is_not_the_persons_is_refused_in_the_smtp_conversation_and_changes_nothing(m: MailWorld) -> None:
    address = m.reply_address()
    unknown = address.split("+")[0] + "+" + "x" * 24 + "@" + DOMAIN
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        m.send("hello", to=unknown)
    code, why = refused.value.recipients[unknown]
    assert code == 550 and b"not known" in why
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        m.send("hello", to=f"someone@{DOMAIN}")
    with pytest.raises(smtplib.SMTPDataError) as forged:
        m.send("I am Carol, honest", sender="mallory@elsewhere.example")
    assert forged.value.smtp_code == 550 and b"given to someone else" in forged.value.smtp_error
    with pytest.raises(smtplib.SMTPDataError) as dmarc:
        m.send("spoofed", headers={"Authentication-Results": f"{AUTHSERV}; dmarc=fail header.from=customer.example"})
    assert dmarc.value.smtp_code == 550 and b"DMARC" in dmarc.value.smtp_error
    # A verdict written by anyone but the MTA in front counts for nothing: the mail is hers and is posted.
    m.send("from the train", headers={"Authentication-Results": "evil.example; dmarc=pass header.from=x.example"})
    m.w.settle(lambda: len(messages(m)) == 1)
    assert messages(m)[0].data["authentication"] == {}
    verdicts = f"{AUTHSERV}; spf=pass smtp.mailfrom=customer.example; dkim=pass header.d=customer.example; dmarc=pass"
    m.send("signed", headers={"Authentication-Results": verdicts})
    m.w.settle(lambda: len(messages(m)) == 2)
    assert messages(m)[1].data["authentication"] == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert len(m.mails()) == 1  # no answer went to anyone


def test_oversized_mail_is_refused_with_552(tmp_path: Path) -> None:
    with mail_world(tmp_path, CASEROOM_MAIL_MAX_BYTES=4096) as m:
        m.w.emu.store.closed_domains.add("customer.example")
        m.w.deliver()
        m.w.settle(lambda: bool(m.mails()))
        with pytest.raises(smtplib.SMTPException) as big:
            m.send("x" * 10_000)
        assert "552" in str(big.value)
        m.w.settle()
        assert messages(m) == []


@pytest.mark.parametrize("headers, envelope_from", [
    ({"Auto-Submitted": "auto-replied"}, None),
    ({"Precedence": "bulk"}, None),
    ({"Subject": "Out of Office: back on Monday"}, None),
    ({}, ""),  # a delivery report: the empty envelope sender
])  # fmt: skip
def test_automatic_mail_is_taken_and_dropped_so_no_mail_loops(m: MailWorld, headers: dict[str, str],
                                                               envelope_from: str | None) -> None:  # fmt: skip
    m.send("I am away until Monday.", headers=headers, envelope_from=envelope_from)
    m.w.settle()
    assert messages(m) == [] and len(m.mails()) == 1
    assert not any("away until Monday" in t for t in room_texts(m))


def test_help_is_answered_by_mail_and_leave_ends_the_membership(m: MailWorld) -> None:
    before = room_texts(m)
    m.send("help")
    m.w.settle(lambda: len(m.mails()) == 2)
    answer = m.mails()[-1]
    assert "Reply \"leave\" to leave the room" in answer.text
    assert answer["In-Reply-To"] and answer["References"].startswith(m.mails()[0]["Message-ID"])
    assert room_texts(m) == before  # nothing posted

    address = m.reply_address()
    m.send("leave")
    m.w.settle(lambda: len(m.mails()) == 3)
    assert "You have left the room of support case 00001234" in m.mails()[-1].text
    m.w.settle(lambda: "Carol Customer left the room (by e-mail)" in room_texts(m))
    with pytest.raises(smtplib.SMTPRecipientsRefused) as dead:
        m.send("one more thing", to=address)
    assert b"no longer in use" in dead.value.recipients[address][1]
    with m.w.rt.db.session() as s:
        assert s.exec(select(MailMember)).one().state == MailState.LEFT
        assert s.exec(select(Participant).where(Participant.email == CAROL)).one().status == "left"


def test_an_engineer_invites_by_email_and_a_hard_bounce_ends_it_and_says_so(tmp_path: Path) -> None:
    with mail_world(tmp_path) as m:
        m.w.deliver()
        m.w.settle(lambda: bool(m.w.state.calls("crm.write_room_url")))
        room_id = m.w.room()["id"]
        m.w.act("act/message", as_email=ADA, room_id=room_id, text=f"/case invite {DAVE} --email", mention_bot=True)
        m.w.settle(lambda: bool(m.mails(DAVE)))
        assert "Ada added you to the room of support case 00001234" in m.mails(DAVE)[0].text
        assert any(t.startswith("dave@customer.example takes part by e-mail") for t in m.w.texts(room_id))
        assert not m.mails(CAROL)  # Carol is a Webex guest: no mail for her

        m.mailbox.bounce("eve@rival.example", "No such user")
        m.w.act("act/message", as_email=ADA, room_id=room_id, text="/case invite eve@rival.example --email",
                mention_bot=True)  # fmt: skip
        m.w.settle(lambda: any("cannot be delivered" in t for t in m.w.texts(room_id)))
        said = [t for t in m.w.texts(room_id) if "cannot be delivered" in t]
        assert said == ["Mail to eve@rival.example cannot be delivered (550 5.1.1 No such user); they no longer take "
                        "part by e-mail"], said
        with m.w.rt.db.session() as s:
            eve = s.exec(select(MailMember).where(MailMember.email == "eve@rival.example")).one()
            assert eve.state == MailState.BOUNCED


def test_a_customer_cannot_invite_an_outsider_by_email(tmp_path: Path) -> None:
    with mail_world(tmp_path) as m:
        m.w.deliver()
        m.w.settle(lambda: bool(m.w.state.calls("crm.write_room_url")))
        room_id = m.w.room()["id"]
        m.w.act("act/message", as_email=CAROL, room_id=room_id, text="/case invite eve@rival.example --email",
                mention_bot=True)  # fmt: skip
        m.w.settle(lambda: bool(direct_messages(m.w).get(CAROL)))
        assert "customers may invite addresses of customer.example only" in direct_messages(m.w)[CAROL][-1]
        assert not m.mails("eve@rival.example")


def test_a_mail_taken_before_a_crash_is_posted_once_after_the_restart(tmp_path: Path) -> None:
    with mail_world(tmp_path, CASEROOM_WORKERS=0) as m:
        m.w.emu.store.closed_domains.add("customer.example")
        m.w.deliver()
        drain = m.w.rt.worker().drain
        for _ in range(5):
            drain()
        assert m.mails()
        mid = m.send("Still dropping at 10:05.")  # 250: stored with its job, no worker has run it
        # The process dies here. A new one on the same database (as after a restart) runs what was taken.
        settings = m.w.rt.settings
        again = Runtime(settings, plugins=[webex_plugin, mail_plugin], crms=m.w.rt.services.crms)
        try:
            again.worker().drain()
            m.send("Still dropping at 10:05.", message_id=mid)  # the sender's retry after our crash: a duplicate
            again.worker().drain()
            m.w.rt.worker().drain()
        finally:
            again.stop()
        posted = [t for t in room_texts(m) if "(by e-mail)" in t]
        assert posted == ["Carol Customer (by e-mail):\nStill dropping at 10:05."], posted


def test_a_reply_after_the_case_closed_gets_a_polite_answer_and_is_not_posted(m: MailWorld) -> None:
    m.w.deliver(event_id="evt_close", type_="case.closed", occurred_at="2026-11-23T09:00:00Z", status="Closed")
    m.w.settle(lambda: closed(m.w))
    assert "Support case 00001234 is closed" in m.mails()[-1].text  # the closing mail
    m.send("Is it fixed for good?")
    m.w.settle(lambda: len(m.mails()) == 3)
    answer = m.mails()[-1]
    assert "Support case 00001234 is closed, so your reply was not posted" in answer.text
    assert answer["Subject"] == "[Case 00001234] VPN drops every hour"
    assert messages(m) == [] and not any("fixed for good" in t for t in room_texts(m))


def test_mail_the_listener_cannot_store_is_refused_for_now_so_the_sender_keeps_it(m: MailWorld) -> None:
    address = m.reply_address()
    with m.w.rt.db.session() as s:  # the database loses the table replies are checked against
        s.execute(text("ALTER TABLE mail_members RENAME TO mail_members_away"))
        s.commit()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as later:
        m.send("are you there?", to=address)
    code, why = later.value.recipients[address]
    assert code == 451 and b"try again" in why  # a 4xx: the sending server keeps the mail and retries
    with m.w.rt.db.session() as s:
        s.execute(text("ALTER TABLE mail_members_away RENAME TO mail_members"))
        s.commit()
    m.send("are you there?", to=address)  # its retry, once the database is back
    m.w.settle(lambda: len(messages(m)) == 1)


def test_attachments_in_a_reply_are_posted_as_hers_filed_once_and_kept_once_at_closure(m: MailWorld) -> None:
    log = b"tunnel down at 10:02\n" * 40
    m.send("The log you asked for.", attachments=(("tunnel.txt", log), ("../<!channel> mtu.txt", b"mtu 1400\n")))
    m.w.settle(lambda: len(filed(m.w)) == 2)
    with_files = [x for x in m.w.messages(m.w.room()["id"]) if x.get("files")]
    # Webex takes one file a message: her words carry the first, the second comes alone; no name is markup.
    assert [(x.get("text"), len(x["files"])) for x in with_files] == [
        ("Carol Customer (by e-mail):\nThe log you asked for.", 1), (None, 1)], with_files
    contents = [m.w.emu.store.contents[x["files"][0].rsplit("/", 1)[1]] for x in with_files]
    assert [(c.name, c.data) for c in contents] == [("tunnel.txt", log), ("_!channel_ mtu.txt", b"mtu 1400\n")]
    assert sorted(filed(m.w)) == ["_!channel_ mtu.txt", "tunnel.txt"]
    [entry] = [e for e in timeline_of(m) if e.actor_email == CAROL]
    assert (entry.kind, entry.data["via"]) == ("file", "email")
    assert entry.text == ("Carol Customer uploaded tunnel.txt (840 bytes); Carol Customer uploaded _!channel_ mtu.txt "
                          "(9 bytes): The log you asked for.")  # fmt: skip

    m.w.deliver(event_id="evt_close", type_="case.closed", occurred_at="2026-11-23T09:00:00Z", status="Closed")
    m.w.settle(lambda: closed(m.w))
    assert sorted(filed(m.w)) == ["_!channel_ mtu.txt", "case-00001234-transcript.html",
                                  "case-00001234-transcript.json", "tunnel.txt"]  # each file once
    [doc] = [c["text"] for c in m.w.state.calls("crm.attach_file") if c["name"].endswith("transcript.json")]
    entries = [e for e in json.loads(doc)["entries"] if "tunnel" in e["text"] or "mtu" in e["text"]]
    assert [(e["text"], e["actor"]["email"]) for e in entries] == [(entry.text, CAROL)], entries


def test_on_slack_a_reply_with_a_file_is_one_escaped_message_filed_once_and_exported_once(tmp_path: Path) -> None:
    with mail_world(tmp_path, slack=True) as m:
        cid = str(m.w.opened()["id"])
        m.w.settle(lambda: bool(m.mails()))  # Slack Connect is off: Carol's invitation comes by mail
        capture = bytes(range(256)) * 8
        m.send("<!channel> the capture", attachments=(("capture.pcap", capture),))
        m.w.settle(lambda: "capture.pcap" in filed(m.w))
        [posted] = [x for x in m.w.messages(cid) if x.get("files")]
        assert posted["text"] == "Carol Customer (by e-mail):\n&lt;!channel&gt; the capture"  # no ping
        assert [f["name"] for f in posted["files"]] == ["capture.pcap"]
        assert not [t for t in m.w.texts(cid) if "uploaded" in t]  # the file is in her message: no announcement
        assert m.w.deliver(event_id="evt_close", type_="case.closed", status="Closed").status_code == 200
        m.w.settle(lambda: m.w.channel_by_id(cid)["is_archived"])
        m.w.settle()
        assert filed(m.w).count("capture.pcap") == 1
        [doc] = [c["text"] for c in m.w.state.calls("crm.attach_file") if c["name"].endswith("transcript.json")]
        entries = [e for e in json.loads(doc)["entries"] if "capture" in e["text"]]
        # Slack shares the upload after answering, so the export meets a message whose ts CaseRoom never learnt:
        # its files say it is the bot's post of her mail, already on the record.
        assert [(e["text"], e["actor"]["email"]) for e in entries] == [
            ("Carol Customer uploaded capture.pcap (2.0 KB): <!channel> the capture", CAROL)], entries


def test_attachments_a_platform_will_not_take_are_named_and_her_words_still_posted(m: MailWorld) -> None:
    def refuse(room_id: str, text: str, files: Any) -> Any:
        raise PermanentPlatformError("file type not allowed")

    m.w.rt.services.messenger("webex").post_files = refuse
    m.send("Installer attached.", attachments=(("setup.exe", b"MZ" * 100),))
    m.w.settle(lambda: any("(by e-mail)" in t for t in room_texts(m)))
    assert [t for t in room_texts(m) if "(by e-mail)" in t] == [
        "Carol Customer (by e-mail):\nInstaller attached.\nCarol Customer attached setup.exe by e-mail, which could "
        "not be posted here (file type not allowed); ask them to share files through the room's link"]
    [entry] = messages(m)
    assert entry.text == "Installer attached." and entry.data["attachments"] == ["setup.exe"] and not filed(m.w)
