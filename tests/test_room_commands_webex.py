"""In-room commands end to end on Webex: people type them in the space, the emulator's state shows the effect."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_webex_adapter import CUSTOMER, ENGINEER, direct_messages, members
from tests.webex_world import WebexWorld, webex_world

COLLEAGUE, OUTSIDER, STRANGER = "dave@customer.example", "eve@rival.example", "mallory@elsewhere.example"


@pytest.fixture
def w(tmp_path: Path) -> Iterator[WebexWorld]:
    with webex_world(tmp_path) as world:
        world.deliver()
        world.settle(lambda: bool(world.state.calls("crm.write_room_url")))
        yield world


def say(w: WebexWorld, who: str, text: str) -> None:
    w.act("act/message", as_email=who, room_id=w.room()["id"], text=text, mention_bot=True)


def answers_to(w: WebexWorld, who: str, count: int) -> list[str]:
    """The bot's private answers to ``who`` once there are ``count`` of them."""
    w.settle(lambda: len(direct_messages(w).get(who, [])) >= count)
    return direct_messages(w)[who]


def test_a_customer_invites_a_colleague_but_not_an_outsider(w: WebexWorld) -> None:
    say(w, CUSTOMER, f"invite {COLLEAGUE}")
    w.settle(lambda: COLLEAGUE in members(w.room()))
    room_texts = w.texts(w.room()["id"])
    # Everyone sees what changed the room and who did it.
    assert any(t.startswith(f"{CUSTOMER} invited {COLLEAGUE}") for t in room_texts), room_texts
    say(w, CUSTOMER, f"invite {OUTSIDER}")
    refusal = answers_to(w, CUSTOMER, 1)[-1]
    assert refusal.startswith("Sorry, customers may invite addresses of customer.example only"), refusal
    assert OUTSIDER not in members(w.room())


def card_for(w: WebexWorld, email: str) -> dict[str, Any]:
    """The one confirmation card the bot sent ``email`` in their direct space."""
    def cards() -> list[dict[str, Any]]:
        found = []
        for room in w.emu.snapshot()["rooms"]:
            if room.get("type") == "direct" and email in {m["email"] for m in room["members"]}:
                found += [m for m in w.messages(room["id"]) if m.get("attachments")]
        return found

    w.settle(lambda: bool(cards()))
    [card] = cards()
    return card


def press(w: WebexWorld, who: str, card: dict[str, Any], answer: str) -> None:
    data = next(a["data"] for a in card["attachments"][0]["content"]["actions"] if a["data"]["answer"] == answer)
    w.act("act/submit", as_email=who, message_id=card["id"], inputs=data)


def test_an_engineer_removes_a_participant_after_confirming(w: WebexWorld) -> None:
    say(w, ENGINEER, f"invite {COLLEAGUE}")
    w.settle(lambda: COLLEAGUE in members(w.room()))
    say(w, ENGINEER, f"remove {COLLEAGUE}")
    card = card_for(w, ENGINEER)
    assert f"Remove {COLLEAGUE} from the room" in card["text"]
    assert COLLEAGUE in members(w.room())  # nothing happens before the press
    press(w, ENGINEER, card, "cancel")
    w.settle(lambda: any("Cancelled" in t for t in direct_messages(w).get(ENGINEER, [])))
    assert COLLEAGUE in members(w.room())
    say(w, ENGINEER, f"remove {COLLEAGUE}")
    press(w, ENGINEER, card_for(w, ENGINEER), "confirm")  # the cancelled card is gone: one card again
    w.settle(lambda: COLLEAGUE not in members(w.room()))
    assert any(f"removed {COLLEAGUE}" in t for t in w.texts(w.room()["id"]))


def test_a_strangers_command_is_refused(w: WebexWorld) -> None:
    # Someone who walked in through Webex itself is neither engineer nor customer of the case.
    w.act("people", email=STRANGER, name="Mallory")
    w.act("act/join", email=STRANGER, room_id=w.room()["id"])
    say(w, STRANGER, f"invite {OUTSIDER}")
    assert answers_to(w, STRANGER, 1)[-1].startswith("Sorry"), direct_messages(w)
    assert OUTSIDER not in members(w.room())


def test_files_lists_an_upload_and_note_lands_on_the_crm_case(w: WebexWorld) -> None:
    room_id = w.room()["id"]
    data = base64.b64encode(b"p" * 2048).decode()
    pcap = {"name": "trace.pcap", "mime": "application/octet-stream", "content_b64": data}
    w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="trace", file=pcap)
    w.settle(lambda: any(c["name"] == "trace.pcap" for c in w.state.calls("crm.attach_file")))
    say(w, ENGINEER, "files")
    listing = answers_to(w, ENGINEER, 1)[-1]
    assert "trace.pcap (2.0 KB) by carol@customer.example" in listing and "filed on the case" in listing, listing
    say(w, ENGINEER, "note Customer confirmed the MTU change fixed it")
    w.settle(lambda: any("MTU change" in c["text"] for c in w.state.calls("crm.add_comment")))
    assert any("note" in t.lower() for t in answers_to(w, ENGINEER, 2)[1:] + w.texts(room_id))


@pytest.mark.parametrize(
    ("command", "usage"),
    [("invite", "Usage: /case invite <email>"), ("remove", "Usage: /case remove <email>"),
     ("note", "Usage: /case note <text>"), ("timeline lots", "Usage: /case timeline")],
)
def test_bad_arguments_are_answered_with_the_usage(w: WebexWorld, command: str, usage: str) -> None:
    say(w, ENGINEER, command)
    assert usage in answers_to(w, ENGINEER, 1)[-1]
