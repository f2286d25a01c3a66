"""In-room commands end to end on Slack: `/case` typed in the channel, Block Kit buttons clicked, emulator state."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands import NOT_IN_ROOM
from integrations.messaging import Confirmation
from integrations.slack.messenger import confirmation_blocks
from integrations.slack.text import unescape
from tests.slack_world import CUSTOMER, ENGINEER, SlackWorld, slack_world

COLLEAGUE, OUTSIDER, STRANGER = "dave@customer.example", "eve@rival.example", "mallory@elsewhere.example"
KENJI = "kenji@support.example"


@pytest.fixture
def w(tmp_path: Path) -> Iterator[SlackWorld]:
    with slack_world(tmp_path) as world:
        cid = world.opened()["id"]
        world.emu.accept_invite(email=CUSTOMER)
        world.settle(lambda: any("carol joined the room" in t for t in world.texts(cid)))
        yield world


def cid(w: SlackWorld) -> str:
    return str(w.channel()["id"])


def case(w: SlackWorld, who: str, text: str) -> None:
    assert w.emu.command(who, cid(w), text)["status"] == 200


def private_to(w: SlackWorld, who: str) -> list[str]:
    """What only ``who`` saw: ephemeral command answers (inline or through response_url) and postEphemeral."""
    user = w.emu.store.user_by_email(who)
    assert user is not None
    answers = [r for r in w.emu.responses(cid(w)) if r["user_id"] == user.id and r["response_type"] == "ephemeral"]
    private = [e for e in w.emu.ephemerals() if e["user"] == user.id]
    # As the asker reads them: Slack shows &lt; as <.
    return [unescape(str(r.get("text") or "")) for r in sorted(answers + private, key=lambda r: r["at"])]


def answers_to(w: SlackWorld, who: str, count: int) -> list[str]:
    w.settle(lambda: len(private_to(w, who)) >= count)
    return private_to(w, who)


def test_a_customer_invites_a_colleague_but_not_an_outsider(w: SlackWorld) -> None:
    case(w, CUSTOMER, f"invite {COLLEAGUE}")
    w.settle(lambda: any(i["email"] == COLLEAGUE for i in w.channel()["pending_invites"]))  # through Slack Connect
    # Everyone sees what changed the room and who did it (Slack names people by their display name).
    assert any(t.startswith(f"carol invited {COLLEAGUE}") for t in w.texts(cid(w))), w.texts(cid(w))
    case(w, CUSTOMER, f"invite {OUTSIDER}")
    refusal = answers_to(w, CUSTOMER, 1)[-1]
    assert refusal.startswith("Sorry, customers may invite addresses of customer.example only"), refusal
    assert all(i["email"] != OUTSIDER for i in w.channel()["pending_invites"])


def test_an_engineer_removes_a_participant_after_confirming_with_a_button(w: SlackWorld) -> None:
    case(w, ENGINEER, f"invite {KENJI}")
    w.settle(lambda: KENJI in w.channel()["member_emails"])
    case(w, ENGINEER, f"remove {KENJI}")
    w.settle(lambda: any(f"Remove {KENJI} from the room" in t for t in private_to(w, ENGINEER)))
    assert KENJI in w.channel()["member_emails"]  # nothing happens before the click

    # Someone else cannot click the engineer's private buttons: they never saw them.
    with pytest.raises(Exception, match="button_not_found"):
        w.emu.click(KENJI, cid(w), "caseroom_cancel")
    assert w.emu.click(ENGINEER, cid(w), "caseroom_cancel")["status"] == 200
    w.settle(lambda: any("Cancelled" in t for t in private_to(w, ENGINEER)))
    assert KENJI in w.channel()["member_emails"]
    assert not any(f"Remove {KENJI}" in t for t in private_to(w, ENGINEER))  # the prompt became the answer

    case(w, ENGINEER, f"remove {KENJI}")
    w.settle(lambda: any(f"Remove {KENJI}" in t for t in private_to(w, ENGINEER)))
    assert w.emu.click(ENGINEER, cid(w), "caseroom_confirm")["status"] == 200
    w.settle(lambda: KENJI not in w.channel()["member_emails"])
    assert any(f"removed {KENJI}" in t for t in w.texts(cid(w))), w.texts(cid(w))
    with pytest.raises(Exception, match="button_not_found"):  # the prompt went once answered
        w.emu.click(ENGINEER, cid(w), "caseroom_confirm")


def test_a_click_meets_the_same_permission_checks_as_the_command(w: SlackWorld) -> None:
    case(w, ENGINEER, f"invite {KENJI}")
    w.settle(lambda: KENJI in w.channel()["member_emails"])
    # The customer may not remove anyone. Hand her the very buttons an engineer gets (as a forged click would
    # carry them): her click changes nothing.
    ch = w.channel()
    customer = w.emu.store.user_by_email(CUSTOMER)
    assert customer is not None
    blocks = confirmation_blocks(Confirmation(f"Remove {KENJI}?", f"remove {KENJI}", ch["id"]))
    w.emu.record_ephemeral({"channel": ch["id"], "user": customer.id, "text": "?", "message_ts": "1.0",
                            "blocks": blocks})  # fmt: skip
    assert w.emu.click(CUSTOMER, ch["id"], "caseroom_confirm")["status"] == 200
    w.settle(lambda: any(t.startswith("Sorry") for t in private_to(w, CUSTOMER)))
    assert KENJI in w.channel()["member_emails"]


def test_a_strangers_command_is_refused(w: SlackWorld) -> None:
    w.emu.add_user(STRANGER, "Mallory")
    w.emu.act_join(STRANGER, cid(w))  # walked in through Slack itself: neither engineer nor customer
    case(w, STRANGER, f"invite {OUTSIDER}")
    assert answers_to(w, STRANGER, 1)[-1].startswith("Sorry"), private_to(w, STRANGER)
    assert all(i["email"] != OUTSIDER for i in w.channel()["pending_invites"])


def test_read_commands_answer_only_people_in_the_channel(w: SlackWorld) -> None:
    w.emu.add_user(STRANGER, "Mallory")  # in the workspace, never in the channel: sees nothing of the case
    reads = ["status", "summary", "timeline 50", "files"]
    for n, text in enumerate(reads, start=1):
        case(w, STRANGER, text)
        assert answers_to(w, STRANGER, n)[-1] == NOT_IN_ROOM
    # Someone just removed is a stranger again, though the record still knows them.
    case(w, ENGINEER, f"invite {KENJI}")
    w.settle(lambda: KENJI in w.channel()["member_emails"])
    case(w, KENJI, "status")
    assert answers_to(w, KENJI, 1)[-1].startswith("Case 00001234")
    case(w, ENGINEER, f"remove {KENJI}")
    w.settle(lambda: any(f"Remove {KENJI}" in t for t in private_to(w, ENGINEER)))
    assert w.emu.click(ENGINEER, cid(w), "caseroom_confirm")["status"] == 200
    w.settle(lambda: KENJI not in w.channel()["member_emails"])
    for n, text in enumerate(reads, start=2):
        case(w, KENJI, text)
        assert answers_to(w, KENJI, n)[-1] == NOT_IN_ROOM
    assert all("VPN" not in t for t in private_to(w, STRANGER) + private_to(w, KENJI)[1:])


def test_files_lists_an_upload_and_note_lands_on_the_crm_case(w: SlackWorld) -> None:
    pcap = {"name": "trace.pcap", "mime": "application/octet-stream",
            "content_b64": base64.b64encode(b"p" * 2048).decode()}  # fmt: skip
    w.emu.act_message(CUSTOMER, cid(w), "trace", file=pcap)
    w.settle(lambda: any(c["name"] == "trace.pcap" for c in w.state.calls("crm.attach_file")))
    case(w, ENGINEER, "files")
    listing = answers_to(w, ENGINEER, 1)[-1]
    assert "trace.pcap (2.0 KB) by carol@customer.example" in listing and "filed on the case" in listing, listing
    case(w, ENGINEER, "note Customer confirmed the MTU change fixed it")
    w.settle(lambda: any("MTU change" in c["text"] for c in w.state.calls("crm.add_comment")))
    assert any("note" in t.lower() for t in private_to(w, ENGINEER)[1:] + w.texts(cid(w)))


@pytest.mark.parametrize(
    ("command", "usage"),
    [("invite", "Usage: /case invite <email>"), ("remove", "Usage: /case remove <email>"),
     ("note", "Usage: /case note <text>"), ("timeline lots", "Usage: /case timeline")],
)  # fmt: skip
def test_bad_arguments_are_answered_with_the_usage(w: SlackWorld, command: str, usage: str) -> None:
    case(w, ENGINEER, command)
    assert usage in answers_to(w, ENGINEER, 1)[-1]
