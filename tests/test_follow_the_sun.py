"""Follow the sun: owner-change handoffs, scheduled shift handoffs (DST, holidays, replicas), /case handoff."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot import shifts
from bot.cli import build
from bot.config import ConfigError, load_settings
from bot.events import Actor, CommandRequest
from bot.models import Job
from bot.runtime import Runtime
from bot.shifts.rota import RotaError, parse
from handlers import command_requests, shift_handoffs
from integrations.crm import Person
from tests.doubles import SharedState
from tests.shift_support import (
    CAROL,
    KENJI,
    ROOM,
    FakeClock,
    cards,
    deliver,
    handoffs,
    invites,
    open_case,
    rota_file,
    said,
    tick,
    utc,
    world,
)
from tests.support import case_event

ADA = Actor("u-ada", "ada@support.example", "Ada")


def test_a_case_opened_in_apac_goes_round_the_world_and_back(db_url: str, state_file: Path, tmp_path: Path) -> None:
    clock = FakeClock("2026-11-17T02:00:00Z")  # Tuesday, 11:00 in Tokyo
    rt = world(db_url, state_file, rota_file(tmp_path), clock)
    state = SharedState(state_file)
    open_case(rt, clock)
    open_case(rt, clock, number="00009999", priority="P4", event_id="evt_p4")  # does not follow the sun
    clock.set("2026-11-17T05:00:00Z")
    said(rt, clock, CAROL, "message", "Is there a workaround until the fix ships?")
    clock.set("2026-11-17T05:10:00Z")
    said(rt, clock, CAROL, "file", files=("vpn-trace.pcap",))
    tick(rt, clock, "2026-11-17T05:30:00Z")
    assert handoffs(rt) == []

    tick(rt, clock, "2026-11-17T07:00:30Z")  # 08:00 in Amsterdam
    (emea,) = cards(state)
    assert emea.startswith("Handoff: Kenji hands this case to Ada")
    assert "From: Kenji <kenji@support.example>, 16:00 Tue 17 Nov (Asia/Tokyo)" in emea
    assert "To: Ada <ada@support.example>, 08:00 Tue 17 Nov (Europe/Amsterdam)" in emea
    assert "Why: the EMEA shift starts (08:00 Tue 17 Nov CET)" in emea
    assert "Open questions: Carol Customer at 2026-11-17 05:00 UTC" in emea and "workaround" in emea
    assert "Files so far: vpn-trace.pcap" in emea
    assert invites(state, "ada@support.example") == 1
    for again in ("2026-11-17T07:00:30Z", "2026-11-17T07:01:30Z", "2026-11-17T08:30:00Z"):
        tick(rt, clock, again)
    assert len(cards(state)) == 1

    clock.set("2026-11-17T09:00:00Z")
    said(rt, clock, ADA, "message", "Use client 4.2 until then.")
    # Kenji leaves the room at the end of his day; the next APAC shift must bring him back.
    clock.set("2026-11-17T10:00:00Z")
    rt.services.messenger("webex").remove_member(ROOM, "user-kenji@support.example")
    said(rt, clock, Actor("user-kenji@support.example", "kenji@support.example", "Kenji"), "left")

    tick(rt, clock, "2026-11-17T16:00:30Z")  # 08:00 in Los Angeles
    amer = cards(state)[-1]
    assert amer.startswith("Handoff: Ada hands this case to Lee")
    assert "To: Lee <lee@support.example>, 08:00 Tue 17 Nov (America/Los_Angeles)" in amer
    assert "Open questions: none" in amer and "Files since the last handoff: none" in amer
    assert "Last customer message: Carol Customer at 2026-11-17 05:00 UTC" in amer

    tick(rt, clock, "2026-11-18T00:00:30Z")  # Wednesday 09:00 in Tokyo
    apac = cards(state)[-1]
    assert apac.startswith("Handoff: Lee hands this case to Kenji")
    assert invites(state, "kenji@support.example") == 2  # opened with him, and re-invited after he left
    room = state.read()["rooms"]["00001234"]
    assert {"kenji@support.example", "ada@support.example", "lee@support.example"} <= set(room["members"])

    assert [e.data["to"] for e in handoffs(rt)] == ["ada@support.example", "lee@support.example", KENJI["email"]]
    comments = [c["text"] for c in state.calls("crm.add_comment") if c["crm_id"] == "50000001234"]
    assert len([c for c in comments if c.startswith("CaseRoom: Handoff:")]) == 3
    assert cards(state, "room-00009999") == [] and handoffs(rt, 2) == []


def test_dst_moves_the_handoff_with_the_local_clock(db_url: str, state_file: Path, tmp_path: Path) -> None:
    # Amsterdam leaves summer time on Sunday 25 October 2026, Los Angeles on Sunday 1 November.
    clock = FakeClock("2026-10-22T12:00:00Z")
    rt = world(db_url, state_file, rota_file(tmp_path), clock)
    open_case(rt, clock)
    expected = [
        ("2026-10-23T06:00:30Z", "ada"),  # 08:00 CEST
        ("2026-10-23T15:00:30Z", "lee"),  # 08:00 PDT
        ("2026-10-26T00:00:30Z", "kenji"),
        ("2026-10-26T06:00:30Z", None),  # last week's 08:00 in Amsterdam is now 07:00 there
        ("2026-10-26T07:00:30Z", "ada"),  # 08:00 CET
        ("2026-10-26T15:00:30Z", "lee"),  # still 08:00 PDT: the gap between the regions is 8 h this week
        ("2026-11-02T07:00:30Z", "ada"),
        ("2026-11-02T15:00:30Z", None),  # was 08:00 PDT, now 07:00 PST
        ("2026-11-02T16:00:30Z", "lee"),  # 08:00 PST
    ]
    for at, who in expected:
        before = len(handoffs(rt))
        tick(rt, clock, at)
        after = handoffs(rt)
        if who is None:
            assert len(after) == before, f"handoff at {at}"
        else:
            assert len(after) == before + 1 and after[-1].data["to"] == f"{who}@support.example", at


def test_holidays_and_weekends_have_no_shift() -> None:
    rota = parse({"region": [{"name": "APAC", "timezone": "Asia/Tokyo", "hours": "09:00-18:00",
                              "holidays": [date(2026, 11, 23)], "roster": [{"email": "k@x.example"}]}]})  # fmt: skip
    apac = rota.regions[0]
    after_friday = apac.next_shift(utc("2026-11-20T01:00:00Z"))  # Friday, during the shift
    assert after_friday is not None and after_friday.start == utc("2026-11-24T00:00:00Z")  # Monday is a holiday
    assert apac.shift_at(utc("2026-11-23T03:00:00Z")) is None
    assert apac.starts_between(utc("2026-11-20T12:00:00Z"), utc("2026-11-24T00:00:00Z"))[0].key == (
        "APAC@2026-11-24T09:00+09:00"
    )


def test_night_shifts_queues_and_bad_rotas() -> None:
    rota = parse({"region": [{"name": "NOC", "timezone": "Europe/London", "hours": "22:00-06:00", "days": "Sun-Thu",
                              "queue": "Night desk"}]})  # fmt: skip
    noc = rota.regions[0]
    shift = noc.shift_at(utc("2026-11-17T03:00:00Z"))  # Tuesday 03:00: Monday's night shift
    assert shift is not None and shift.day == date(2026, 11, 16)

    class QueueCRM:
        def queue_members(self, queue: str) -> list[Person]:
            return [Person("night@support.example", "Nia")] if queue == "Night desk" else []

    class CommentsOnly:  # a CRM without queues, configured beside the one that keeps them
        name = "webhook"

    crms = [CommentsOnly(), QueueCRM()]
    assert shifts.on_duty(shift, crms) == Person("night@support.example", "Nia")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="no configured CRM can list queue members"):
        shifts.on_duty(shift, [CommentsOnly()])  # type: ignore[list-item]
    for bad, message in [
        ({"name": "X", "timezone": "Mars/Olympus", "hours": "08:00-17:00", "queue": "q"}, "IANA"),
        ({"name": "X", "timezone": "UTC", "hours": "8 to 5", "queue": "q"}, "08:00-17:00"),
        ({"name": "X", "timezone": "UTC", "hours": "08:00-17:00", "days": "Mon-Funday", "queue": "q"}, "Mon-Fri"),
        ({"name": "X", "timezone": "UTC", "hours": "08:00-17:00"}, "roster"),
    ]:
        with pytest.raises(RotaError, match=message):
            parse({"region": [bad]})


def test_a_wrong_shifts_file_stops_the_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CASEROOM_SHIFTS_FILE", str(rota_file(tmp_path, '[[region]]\nname = "EMEA"\n')))
    with pytest.raises(ConfigError, match="CASEROOM_SHIFTS_FILE"):
        load_settings()


@pytest.mark.postgres
def test_two_replicas_fire_each_handoff_once(pg_url: str, state_file: Path, tmp_path: Path) -> None:
    clock = FakeClock("2026-11-17T02:00:00Z")
    rota = rota_file(tmp_path)
    replicas = [world(pg_url, state_file, rota, clock) for _ in range(2)]
    open_case(replicas[0], clock)
    open_case(replicas[1], clock, number="00005678", event_id="evt_other")
    state = SharedState(state_file)
    for start in ("2026-11-17T07:00", "2026-11-17T16:00", "2026-11-18T00:00"):
        # Both believe they lead for a moment, and tick in different minutes of the hand-over.
        tick(replicas[0], clock, f"{start}:30Z", drain=False)
        tick(replicas[1], clock, f"{start}:30Z", drain=False)
        tick(replicas[1], clock, f"{start[:-1]}1:10Z", drain=False)
        workers = [threading.Thread(target=rt.worker(f"{i}-{k}").drain) for i, rt in enumerate(replicas)
                   for k in range(2)]  # fmt: skip
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)
    assert [c.split("\n")[0] for c in cards(state)] == [
        "Handoff: Kenji hands this case to Ada",
        "Handoff: Ada hands this case to Lee",
        "Handoff: Lee hands this case to Kenji",
    ]
    assert len(cards(state, "room-00005678")) == 3
    with replicas[0].db.session() as s:
        jobs = list(s.execute(select(Job)).scalars())
    kinds = [j.kind for j in jobs]
    assert kinds.count(shift_handoffs.START_KIND) == 3 and kinds.count(shift_handoffs.CASE_KIND) == 6
    assert all(j.status == "done" for j in jobs)
    assert len([c for c in state.calls("crm.add_comment") if "Handoff:" in c["text"]]) == 6
    for rt in replicas:
        rt.stop()


def test_owner_change_makes_one_invite_and_one_card(db_url: str, state_file: Path, tmp_path: Path) -> None:
    clock = FakeClock("2026-11-22T18:00:00Z")
    rt = world(db_url, state_file, rota_file(tmp_path), clock)
    state = SharedState(state_file)
    deliver(rt, case_event())  # Ada, Europe/Amsterdam
    clock.set("2026-11-22T20:00:00Z")
    said(rt, clock, CAROL, "message", "Any news?")
    rotated = case_event("evt_2", "case.updated", occurred_at="2026-11-22T20:00:00Z", engineer=None)
    rotated["case"]["engineer"] = KENJI
    deliver(rt, rotated)
    deliver(rt, rotated)
    rotated["id"] = "evt_2_resent"
    deliver(rt, rotated)

    assert invites(state, "kenji@support.example") == 1
    (card,) = cards(state)
    assert card.splitlines()[:4] == [
        "Handoff: Ada hands this case to Kenji",
        "From: Ada <ada@support.example>, 21:00 Sun 22 Nov (Europe/Amsterdam)",
        "To: Kenji <kenji@support.example>, 05:00 Mon 23 Nov (Asia/Tokyo)",
        "Why: the case owner changed in the CRM",
    ]
    assert 'Open questions: Carol Customer at 2026-11-22 20:00 UTC: "Any news?"' in card
    assert len([c for c in state.calls("crm.add_comment") if "Handoff:" in c["text"]]) == 1
    assert len(handoffs(rt)) == 1


def test_an_owner_change_whose_card_failed_once_still_gets_its_card(state_file: Path, tmp_path: Path) -> None:
    clock = FakeClock("2026-11-22T18:00:00Z")
    rt = world(f"sqlite:///{tmp_path / 'db.sqlite'}", state_file, rota_file(tmp_path), clock)
    state = SharedState(state_file)
    deliver(rt, case_event())
    state.set_fault("post", "transient")  # the card's first post hits a 429; the job is retried
    rotated = case_event("evt_2", "case.updated", occurred_at="2026-11-22T20:00:00Z", engineer=None)
    rotated["case"]["engineer"] = KENJI
    deliver(rt, rotated)
    assert len(cards(state)) == 1


def ask(rt: Runtime, clock: FakeClock, state: SharedState, actor: Actor, text: str) -> str:
    seen = len(state.calls())
    req = CommandRequest("webex", ROOM, actor, text, clock.now)
    rt.queue.submit(command_requests.KIND, req.to_payload())
    rt.worker().drain()
    answers = [c for c in state.calls()[seen:] if c["method"] == "reply_private"]
    return str(answers[-1]["text"])


def test_case_handoff_to_the_next_on_duty_or_to_someone_named(db_url: str, state_file: Path, tmp_path: Path) -> None:
    clock = FakeClock("2026-11-17T10:00:00Z")  # Tuesday: APAC is done, EMEA on duty
    rt = world(db_url, state_file, rota_file(tmp_path), clock)
    state = SharedState(state_file)
    open_case(rt, clock)
    kenji = Actor("u-kenji", "kenji@support.example", "Kenji")
    assert "for the case's engineers" in ask(rt, clock, state, CAROL, "handoff")
    assert ask(rt, clock, state, kenji, "handoff") == "Handed over to Ada; the handoff card is in the room."
    (card,) = cards(state)
    assert card.startswith("Handoff: Kenji hands this case to Ada") and "Why: handed over by Kenji" in card
    assert invites(state, "ada@support.example") == 1

    clock.set("2026-11-17T10:05:00Z")
    assert (
        ask(rt, clock, state, ADA, "handoff lee@support.example")
        == "Handed over to Lee; the handoff card is in the room."
    )
    assert cards(state)[-1].startswith("Handoff: Ada hands this case to Lee")
    assert "To: Lee <lee@support.example>, 02:05 Tue 17 Nov (America/Los_Angeles)" in cards(state)[-1]
    assert ask(rt, clock, state, ADA, "handoff lee@support.example") == "Lee already has this case."
    assert "Not an e-mail address" in ask(rt, clock, state, ADA, "handoff lee")
    # With Lee holding it and EMEA on duty, the next engineer is Ada again.
    assert ask(rt, clock, state, ADA, "handoff") == "Handed over to Ada; the handoff card is in the room."
    assert len(cards(state)) == 3 and len(handoffs(rt)) == 3


def test_shifts_cli_shows_who_is_on_duty_now_and_next_in_the_viewers_zone(tmp_path: Path) -> None:
    rota = rota_file(tmp_path)
    args = ["shifts", "--tz", "Europe/Amsterdam", "--at", "2026-11-17T10:00Z", "--file", str(rota)]
    result = CliRunner().invoke(build(), args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 4}
    assert "Ada <ada@support.example>" in lines["EMEA"] and "until Tue 17 Nov 17:00 CET" in result.output
    assert "off duty" in lines["APAC"] and "Wed 18 Nov 01:00 CET" in lines["APAC"]
    assert "Tue 17 Nov 17:00 CET" in lines["AMER"] and "Lee <lee@support.example>" in lines["AMER"]
    bad = CliRunner().invoke(build(), ["shifts", "--tz", "Mars/Olympus", "--file", str(rota)])
    assert bad.exit_code == 2 and "not an IANA time zone" in bad.output
