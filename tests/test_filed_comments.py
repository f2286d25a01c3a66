"""Everything CaseRoom writes onto the CRM case as a comment: whole, once, and split as the README describes.

Through the Webex emulator (real SDK, real webhooks) and the recording CRM double (4,000-byte comments).
"""

from __future__ import annotations

from pathlib import Path

from integrations.crm import TransientCRMError
from tests.webex_world import WebexWorld, webex_world

ENGINEER = "ada@support.example"
CUSTOMER = "carol@customer.example"


def opened(w: WebexWorld) -> str:
    w.deliver()
    w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
    return str(w.room()["id"])


def comments(w: WebexWorld) -> list[str]:
    return [c["text"] for c in w.state.calls("crm.add_comment")]


def private_answers(w: WebexWorld) -> list[str]:
    """What the bot said in 1:1 spaces: the private answers to commands."""
    direct = [r["id"] for r in w.emu.snapshot()["rooms"] if r.get("type") == "direct"]
    return [t for room_id in direct for t in w.texts(room_id)]


def test_a_long_note_is_accepted_and_filed_whole_as_numbered_comments_each_once(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        room_id = opened(w)
        body = " ".join(f"line{n:04d} of the router log" for n in range(200))  # about 5,400 bytes
        add_comment, failed = w.crm.add_comment, list[str]()

        def second_part_fails_once(crm_id: str, text: str) -> None:
            if text.startswith("(2/2)") and not failed:
                failed.append(text)
                raise TransientCRMError("503 Service Unavailable", retry_after=0.1)
            add_comment(crm_id, text)

        w.crm.add_comment = second_part_fails_once  # type: ignore[method-assign]
        w.act("act/message", as_email=ENGINEER, room_id=room_id, text=f"/case note {body}")
        w.settle(lambda: any("Note added" in t for t in private_answers(w)))
        assert failed, "the second part was never tried"
        parts = [c for c in comments(w) if c.startswith(("(1/2)", "(2/2)"))]
        assert [p[:5] for p in parts] == ["(1/2)", "(2/2)"], "each part filed once, in order, the retry included"
        assert all(len(p.encode()) <= 4000 for p in parts)
        whole = parts[0].removeprefix("(1/2) ") + " " + parts[1].removeprefix("(2/2) ")  # split at a space
        assert whole == f"Note from Ada (CaseRoom): {body}"  # the name the case gave its engineer
        assert "Note added to case 00001234 in the CRM as 2 comments." in private_answers(w)
        assert not any("at most" in t for t in private_answers(w))


def test_uploads_name_people_as_joins_do_and_the_summary_names_everyone_including_after_a_rotation(
    tmp_path: Path,
) -> None:
    with webex_world(tmp_path) as w:
        room_id = opened(w)
        w.deliver(event_id="evt_2", type_="case.updated", occurred_at="2026-11-22T20:00:00Z",
                  engineer="kenji@support.example")  # fmt: skip
        w.settle(lambda: "kenji@support.example" in [m["email"] for m in w.room()["members"]])
        w.act("act/join", email="dave@customer.example", room_id=room_id)
        w.settle(lambda: any("joined" in t and "dave" in t.lower() for t in w.texts(room_id)))
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="the dump",
              file={"name": "dump.txt", "mime": "text/plain", "content_b64": "aGVsbG8="})  # fmt: skip
        w.settle(lambda: any("uploaded dump.txt" in t for t in w.texts(room_id)))
        uploads = [t for t in w.texts(room_id) if "uploaded" in t]
        assert uploads == ["carol uploaded dump.txt (5 bytes)"], "named as Webex named her when she joined"
        w.deliver(event_id="evt_close", type_="case.closed", occurred_at="2026-11-23T09:00:00Z", status="Closed",
                  engineer="kenji@support.example")  # fmt: skip
        w.settle(lambda: any("transcript" in c.lower() for c in comments(w)), timeout=30)
        summary = " ".join(c for c in comments(w) if "transcript" in c.lower())
        for name in ("Ada", "Kenji", "Carol Customer", "dave"):
            assert name.lower() in summary.lower(), (name, summary)
