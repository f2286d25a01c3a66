"""The room, out by mail to someone in it by e-mail: digests in their thread, sooner for an engineer's answer,
only what they could see in the room, each entry once; and a closing mail when the case closes. Real SMTP both
ways (the sandbox mailbox, CaseRoom's listener), the room in the Webex emulator."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from bot.mail_digest import SWEEP_KIND
from bot.models import MailMember, MailState, Participant, ParticipantStatus, utcnow
from tests.mail_world import CAROL, MailWorld, mail_world
from tests.test_exact_record import closed

ADA = "ada@support.example"


class Ahead:
    """A clock some seconds ahead of the wall clock: the emulator stamps events with the real time, and the sweep
    sees them as old as this makes them."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> datetime:
        return utcnow() + timedelta(seconds=self.seconds)


@pytest.fixture
def m(tmp_path: Path) -> Iterator[MailWorld]:
    """Carol is in by e-mail (her org keeps her out of other orgs' spaces) and has her invitation; digests wait
    300 s, an engineer's message 60 s."""
    with mail_world(tmp_path, CASEROOM_MAIL_DIGEST_SECONDS=300, CASEROOM_MAIL_PROMPT_SECONDS=60) as world:
        world.w.emu.store.closed_domains.add("customer.example")
        world.w.deliver()
        world.w.settle(lambda: bool(world.mails()))
        clock = Ahead()
        world.w.rt.services.clock = clock
        world.w.rt.queue.clock = clock
        world.clock = clock  # type: ignore[attr-defined]
        yield world


def sweep(m: MailWorld, seconds_later: float) -> None:
    """The scheduler's tick, that many seconds after now."""
    m.clock.seconds = seconds_later  # type: ignore[attr-defined]
    m.w.rt.queue.submit(SWEEP_KIND, {"bucket": int(seconds_later)})
    m.w.settle()


def say(m: MailWorld, text: str, *, as_email: str = ADA, **extra: object) -> dict[str, object]:
    return m.w.act("act/message", as_email=as_email, room_id=m.w.room()["id"], text=text, **extra)


def test_the_room_reaches_her_in_one_digest_in_her_thread_with_only_what_she_could_see(m: MailWorld) -> None:
    [invitation] = m.mails()
    m.send("It dropped again at nine.")  # her own words: posted, never mailed back to her
    m.w.settle(lambda: any("(by e-mail)" in t for t in m.w.texts(m.w.room()["id"])))
    m.w.act("act/join", email="grace@partner.example", room_id=m.w.room()["id"])
    say(m, "/case note she is on the old client", mention_bot=True)  # internal: for support staff only
    say(m, "/case status", mention_bot=True)  # answered to Ada alone
    say(m, "Please try the new client.", file={"name": "client-notes.pdf", "mime": "application/pdf",
                                               "content_b64": base64.b64encode(b"%PDF-1.4 notes").decode()})
    m.w.settle()
    assert len(m.mails()) == 1  # nothing is mailed before it is due

    sweep(m, 301)
    [_, digest] = m.mails()
    assert digest["In-Reply-To"] == invitation["Message-ID"] and digest["References"] == invitation["Message-ID"]
    assert digest["Subject"] == invitation["Subject"] and digest["Reply-To"] == invitation["Reply-To"]
    body = digest.text
    assert "grace joined the room" in body and "Welcome to the room of case 00001234" in body, body
    assert "Ada Lovelace uploaded client-notes.pdf" in body and "Please try the new client." in body, body
    assert "old client" not in body and "/case note" not in body and "/case status" not in body, body  # no internal
    # note, no command echo
    assert "It dropped again at nine." not in body, body  # not her own words
    assert body.index("joined") < body.index("client-notes.pdf")  # in the room's order

    sweep(m, 700)  # each entry reaches her once
    assert len(m.mails()) == 2


def test_an_engineer_answer_goes_out_sooner_than_the_digest(m: MailWorld) -> None:
    m.w.act("act/join", email="grace@partner.example", room_id=m.w.room()["id"])
    m.w.settle()
    sweep(m, 90)
    assert len(m.mails()) == 1  # a join waits for the digest

    say(m, "Found it: the tunnel's keepalive.")
    m.w.settle()
    sweep(m, 90 + 61)  # an engineer's message waits a minute, not five
    [_, mail] = m.mails()
    assert "Found it: the tunnel's keepalive." in mail.text and "joined" in mail.text, mail.text


def test_a_colleague_invited_by_email_reads_what_members_read_and_not_the_internal_notes(tmp_path: Path) -> None:
    bob = "bob@support.example"
    with mail_world(tmp_path, CASEROOM_MAIL_DIGEST_SECONDS=300) as m:
        m.w.deliver()
        m.w.settle(lambda: bool(m.w.state.calls("crm.write_room_url")))
        room_id = m.w.room()["id"]
        m.w.act("act/message", as_email=ADA, room_id=room_id, text=f"/case invite {bob} --email", mention_bot=True)
        m.w.settle(lambda: bool(m.mails(bob)))
        m.w.act("act/message", as_email=ADA, room_id=room_id, text="/case note check the keepalive", mention_bot=True)
        m.w.act("act/message", as_email=ADA, room_id=room_id, text="Bob, can you look at the tunnel?")
        m.w.settle()
        m.w.rt.services.clock = m.w.rt.queue.clock = lambda: utcnow() + timedelta(seconds=301)
        m.w.rt.queue.submit(SWEEP_KIND, {"bucket": 1})
        m.w.settle(lambda: len(m.mails(bob)) == 2)
        with m.w.rt.db.session() as s:
            assert s.exec(select(Participant).where(Participant.email == bob)).one().role == "member"
        assert "can you look at the tunnel?" in m.mails(bob)[-1].text
        assert "keepalive" not in m.mails(bob)[-1].text  # notes are the case engineers'


def test_at_closure_she_gets_the_last_words_and_a_closing_mail_and_her_membership_ends(m: MailWorld) -> None:
    say(m, "Fixed in 4.2; closing the case.")
    m.w.settle()
    m.w.deliver(event_id="evt_close", type_="case.closed", occurred_at="2026-11-23T09:00:00Z", status="Closed")
    m.w.settle(lambda: closed(m.w))
    [invitation, last] = m.mails()
    assert "Support case 00001234 is closed" in last.text and "Fixed in 4.2; closing the case." in last.text
    assert last["In-Reply-To"] == invitation["Message-ID"]
    with m.w.rt.db.session() as s:
        member = s.exec(select(MailMember)).one()
        carol = s.exec(select(Participant).where(Participant.email == CAROL)).one()
        assert member.state == MailState.ENDED and carol.status == ParticipantStatus.REMOVED and carol.via == "email"
    sweep(m, 900)  # nothing more for her once the case is closed
    assert len(m.mails()) == 2


def download_links(m: MailWorld, text: str) -> dict[str, str]:
    """The digest's file links by file name, pointed at the running service (mailed with its public URL)."""
    found = re.findall(r"^  Download (.+): (\S+)$", text, re.MULTILINE)
    return {name: url.replace(m.w.rt.settings.public_url, m.w.url) for name, url in found}


def test_files_come_as_links_that_only_she_can_open_and_only_while_she_is_in_the_room(m: MailWorld) -> None:
    room_id = m.w.room()["id"]
    bob = "bob@support.example"
    say(m, f"/case invite {bob} --email", mention_bot=True)  # a second member by e-mail: his links are his
    m.w.settle(lambda: bool(m.mails(bob)))
    say(m, "Here is the fixed client.", file={"name": "client <4.2>.zip", "mime": "application/zip",
                                             "content_b64": base64.b64encode(b"PK fixed").decode()})
    say(m, "", file={"name": "evil.exe", "mime": "application/octet-stream", "scan": "infected",
                     "content_b64": base64.b64encode(b"MZ").decode()})  # withheld by the platform: never linked
    m.w.settle(lambda: any("not filed on the case" in t for t in m.w.texts(room_id)))
    sweep(m, 301)
    digest = m.mails()[-1].text
    links = download_links(m, digest)
    assert list(links) == ["client <4.2>.zip"], digest
    assert "not filed on the case" in digest and "yours alone" in digest, digest
    url = links["client <4.2>.zip"]

    got = httpx.get(url)
    assert got.status_code == 200 and got.content == b"PK fixed"
    assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''client%20%3C4.2%3E.zip"
    assert got.headers["x-content-type-options"] == "nosniff" and "sandbox" in got.headers["content-security-policy"]

    base, sig = url.split("?sig=")
    elsewhere = [base + "?sig=" + sig[:-2] + ("AA" if not sig.endswith("AA") else "BB"),  # forged
                 base[: base.rindex("/")] + "/1?sig=" + sig,  # bent to another file of the entry
                 base.replace("/mail/files/1/", "/mail/files/2/") + "?sig=" + sig, base]  # Bob's path; unsigned
    assert [httpx.get(u).status_code for u in elsewhere] == [404, 404, 404, 404]
    [bobs] = download_links(m, m.mails(bob)[-1].text).values()
    assert "/mail/files/2/" in bobs and httpx.get(bobs).content == b"PK fixed"

    m.send("leave")
    m.w.settle(lambda: any("left the room (by e-mail)" in t for t in m.w.texts(room_id)))
    gone = httpx.get(url)
    assert gone.status_code == 410 and "no longer in the case" in gone.text, gone.text


def test_a_file_quarantined_after_it_was_mailed_is_refused_with_a_reason(m: MailWorld) -> None:
    sent = say(m, "Logs attached.", file={"name": "vpn.log", "mime": "text/plain",
                                          "content_b64": base64.b64encode(b"drop\n").decode()})
    m.w.settle()
    sweep(m, 301)
    [url] = download_links(m, m.mails()[-1].text).values()
    content_id = str(sent["files"][0]).rsplit("/", 1)[-1]
    httpx.post(f"{m.w.emu_url}/_sandbox/files/{content_id}/scan", json={"state": "infected"}).raise_for_status()
    refused = httpx.get(url)
    assert refused.status_code == 410 and "no longer available" in refused.text, refused.text
