"""Replies through Mailgun's inbound route: mail sent over SMTP to the sandbox's Mailgun MX, whose route forwards it,
raw MIME and signed, to CaseRoom's webhook; the room in the Webex emulator, CaseRoom's own mail in the sandbox's
mailbox. The same checks as the SMTP listener's, answered as Mailgun reads answers (200 done, 406 refused for good),
with the bounce CaseRoom writes itself, since Mailgun took the mail already."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import httpx
import pytest
from caseroom_sandbox.mailgun import Forward, new_token
from sqlalchemy import text

from integrations.mail import mailgun
from tests.mail_world import AUTHSERV, CAROL, DOMAIN, MailWorld, mail_world
from tests.test_exact_record import filed
from tests.test_mail_participants import messages, room_texts

MALLORY = "mallory@elsewhere.example"


@pytest.fixture
def m(tmp_path: Path) -> Iterator[MailWorld]:
    """Carol is in the case room by e-mail (her organisation keeps its people out of other orgs' Webex spaces), and
    her replies reach CaseRoom through Mailgun's route."""
    # Requests elsewhere are held to 32 KB; the route takes a mail up to its own limit (64 KB here), urlencoded.
    with mail_world(tmp_path, mailgun_route=True, CASEROOM_MAIL_MAX_BYTES=64 * 1024,
                    CASEROOM_MAX_BODY_BYTES=32 * 1024) as world:  # fmt: skip
        world.w.emu.store.closed_domains.add("customer.example")
        world.w.deliver()
        world.w.settle(lambda: bool(world.mails()))
        yield world


def routed(m: MailWorld) -> list[Forward]:
    assert m.routes is not None
    return m.routes.forwards


def bounces(m: MailWorld, to: str) -> list[str]:
    return [x.text for x in m.mails(to) if x["Subject"].startswith("Not delivered")]


def test_a_reply_through_mailgun_is_posted_as_hers_once_and_its_file_filed(m: MailWorld) -> None:
    mid = m.send("Restarting the tunnel fixed it.", via_mailgun=True)
    m.w.settle(lambda: len(messages(m)) == 1)
    assert [f.status for f in routed(m)] == [200]
    assert [t for t in room_texts(m) if "(by e-mail)" in t] == ["Carol Customer (by e-mail):\nRestarting the tunnel "
                                                                 "fixed it."]  # fmt: skip
    [entry] = messages(m)
    assert (entry.actor_email, entry.data["via"], entry.data["mail_message_id"]) == (CAROL, "email", mid)

    m.send("Restarting the tunnel fixed it.", message_id=mid, via_mailgun=True)  # resent: a new token, the same mail
    m.send("Restarting the tunnel fixed it.", message_id=mid)  # and once more, to the SMTP listener
    m.w.settle()
    assert [f.status for f in routed(m)] == [200, 200] and len(messages(m)) == 1

    # With an attachment Mailgun posts multipart/form-data: the file is posted as hers and filed once.
    m.send("The capture.", attachments=(("capture.pcap", b"\xd4\xc3\xb2\xa1" + bytes(range(256)) * 4),),
           via_mailgun=True)  # fmt: skip
    m.w.settle(lambda: filed(m.w) == ["capture.pcap"])
    assert routed(m)[-1].status == 200
    posted = [x for x in m.w.messages(m.w.room()["id"]) if x.get("files")]
    assert [x.get("text") for x in posted] == ["Carol Customer (by e-mail):\nThe capture."], posted
    content = m.w.emu.store.contents[posted[0]["files"][0].rsplit("/", 1)[1]]
    assert content.data == b"\xd4\xc3\xb2\xa1" + bytes(range(256)) * 4  # every byte as she sent it
    assert not [x for x in m.mails(CAROL) if x["Subject"].startswith("Not delivered")]  # nothing bounced


def test_forged_stale_and_replayed_requests_are_refused_with_401_and_change_nothing(m: MailWorld) -> None:
    assert m.routes is not None
    fwd = Forward(m.reply_address(), CAROL, _mail(m, "I am Carol, honest"))
    url = m.w.url + mailgun.PATH
    now = str(int(m.w.rt.services.clock().timestamp()))
    good = m.routes.fields(fwd, timestamp=now, token=new_token())
    forged = {**good, "signature": mailgun.sign("key-someone-else", now, good["token"])}
    stale_at = str(int(now) - 3600)
    stale = {**m.routes.fields(fwd, timestamp=stale_at, token=new_token())}
    unsigned = {k: v for k, v in good.items() if k != "signature"}
    for data, why in ((forged, "bad signature"), (stale, "stale"), (unsigned, "required")):
        r = httpx.post(url, data=data, timeout=10)
        assert r.status_code == 401 and why in r.json()["message"], r.text
    assert httpx.post(url, data=good, timeout=10).status_code == 200
    # The signature covers the token, not the mail: the same triple with another mail is a replay.
    other = Forward(m.reply_address(), CAROL, _mail(m, "a different mail under a captured signature"))
    replay = {**m.routes.fields(other), **{k: good[k] for k in ("timestamp", "token", "signature")}}
    r = httpx.post(url, data=replay, timeout=10)
    assert r.status_code == 401 and "used before" in r.json()["message"], r.text
    m.w.settle(lambda: len(messages(m)) == 1)
    assert [e.text for e in messages(m)] == ["I am Carol, honest"]

    # Signed by Mailgun but not a raw MIME route (no body-mime): a clear 400, nothing stored.
    r = httpx.post(url, data={k: v for k, v in m.routes.fields(fwd).items() if k != "body-mime"}, timeout=10)
    assert r.status_code == 400 and "ending in mime" in r.json()["message"], r.text
    m.w.settle()
    assert len(messages(m)) == 1


def test_refused_mail_gets_406_and_a_bounce_but_forged_and_automatic_mail_gets_no_answer(m: MailWorld) -> None:
    address = m.reply_address()
    m.send("I am Carol, honest", sender=MALLORY, via_mailgun=True)  # not the address's person
    unknown = address.split("+")[0] + "+" + "x" * 24 + "@" + DOMAIN
    m.send("hello", to=unknown, via_mailgun=True)
    m.send("x" * 100_000, via_mailgun=True)  # over CASEROOM_MAIL_MAX_BYTES: a 406 and a bounce, never a 413
    m.send("spoofed", headers={"Authentication-Results": f"{AUTHSERV}; dmarc=fail header.from=customer.example"},
           via_mailgun=True)  # fmt: skip
    m.send("I am away until Monday.", headers={"Auto-Submitted": "auto-replied"}, via_mailgun=True)
    assert [(f.status, f.answers[-1][1]["outcome"]) for f in routed(m)] == [
        (406, "refused"), (406, "refused"), (406, "refused"), (406, "forged"), (200, "dropped")]
    m.w.settle(lambda: len(bounces(m, MALLORY)) == 1 and len(bounces(m, CAROL)) == 2)
    m.w.settle()
    [to_mallory] = m.mails(MALLORY)
    assert to_mallory.mail_from == "<>"  # nothing answers a bounce in turn
    assert to_mallory["Auto-Submitted"] == "auto-replied" and to_mallory["Subject"] == "Not delivered: Re: your case"
    assert "given to someone else" in to_mallory.text and address in to_mallory.text
    to_carol = bounces(m, CAROL)  # the unknown address, then the size; none for the failed DMARC
    assert ["not known" in to_carol[0], "limited to 0.0625 MB" in to_carol[1]] == [True, True], to_carol
    assert messages(m) == [] and not any("honest" in t or "spoofed" in t or "Monday" in t for t in room_texts(m))


def test_a_mail_caseroom_cannot_store_gets_a_5xx_and_mailguns_retry_is_posted_once(m: MailWorld) -> None:
    assert m.routes is not None
    with m.w.rt.db.session() as s:  # the database loses the table replies are checked against
        s.execute(text("ALTER TABLE mail_members RENAME TO mail_members_away"))
        s.commit()
    m.send("are you there?", via_mailgun=True)
    assert [f.status for f in routed(m)] == [500]  # neither 200 nor 406: Mailgun keeps it and tries again
    with m.w.rt.db.session() as s:
        s.execute(text("ALTER TABLE mail_members_away RENAME TO mail_members"))
        s.commit()
    assert m.routes.retry() == 1 and m.routes.retry() == 0
    m.w.settle(lambda: len(messages(m)) == 1)
    assert [f.answers[-1][0] for f in routed(m)] == [200] and [e.text for e in messages(m)] == ["are you there?"]


def _mail(m: MailWorld, text: str) -> bytes:
    """A reply of Carol's as bytes, the way her server would send it."""
    msg = EmailMessage()
    msg["From"] = f"Carol Customer <{CAROL}>"
    msg["To"] = m.reply_address()
    msg["Subject"] = "Re: your case"
    msg["Message-ID"] = make_msgid(domain="customer.example")
    msg["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    msg.set_content(text)
    return msg.as_bytes()
