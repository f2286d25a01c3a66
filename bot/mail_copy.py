"""Words CaseRoom writes to people who are in a case room by e-mail, and says in the room about them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

SIGN_OFF = "-- \nCaseRoom"  # "-- " opens a signature (RFC 3676): mail readers fold it, reply parsers drop it


def subject(number: str, case_subject: str) -> str:
    """One subject for every mail of a case, so mail readers that thread by subject thread them too."""
    return f"[Case {number}] {' '.join(case_subject.split())}".rstrip()


def invitation(name: str, number: str, case_subject: str, by: str, room_url: str) -> str:
    about = f" ({case_subject})" if case_subject else ""
    return "\n".join([
        f"Hello {name},",
        "",
        f"{by} added you to the room of support case {number}{about}. You take part by e-mail:",
        "",
        "- Reply to this mail to write in the room. Your reply is posted there as you; the quoted text",
        "  below it and your signature are left out.",
        "- The room's messages come to you here.",
        f"- The room itself, if you have its chat application: {room_url}",
        "- Reply with the single word \"leave\" to leave the room, or \"help\" to see this again.",
        "",
        SIGN_OFF,
    ])


def help_text(number: str, room_url: str) -> str:
    return "\n".join([
        f"You are in the room of support case {number} by e-mail.",
        "",
        "- Reply to any mail about the case to write in the room (quoted text and signatures are left out).",
        "- Reply \"leave\" to leave the room.",
        "- Commands are typed in the room itself; by e-mail you write messages.",
        f"- The room: {room_url}",
        "",
        SIGN_OFF,
    ])


def left_confirmation(number: str) -> str:
    return "\n".join([
        f"You have left the room of support case {number}: no more mail will come from it, and replies to",
        "its mails are no longer posted. The engineer can invite you again.",
        "",
        SIGN_OFF,
    ])


def after_closure(number: str) -> str:
    return "\n".join([
        f"Support case {number} is closed, so your reply was not posted in its room.",
        "If the problem is back, reply to your support team's own mail about the case or open a new case, and",
        "mention case " + number + ": it can be reopened from there.",
        "",
        SIGN_OFF,
    ])


def digest_line(kind: str, who: str, text: str, at: datetime, files: Sequence[tuple[str, str]] = ()) -> str:
    """One room entry in a person's mail: who said it, when (in their time zone), what; a link for each file."""
    when = at.strftime("%a %d %b %H:%M %Z")
    downloads = "".join(f"\n  Download {name}: {url}" for name, url in files)
    if kind in ("message", "bot", "note"):
        said = "CaseRoom" if kind == "bot" else (who or "Someone")
        label = " (internal note)" if kind == "note" else ""
        return f"[{when}] {said}{label}:\n{text}{downloads}"
    return f"[{when}] {text}{downloads}"


def digest(number: str, lines: list[str], room_url: str, *, with_links: bool = False) -> str:
    links = ["The download links are yours alone and work while you are in the room."] if with_links else []
    return "\n".join([
        f"New in the room of support case {number}:",
        "",
        "\n\n".join(lines),
        "",
        *links,
        "Reply to this mail to write in the room; reply \"leave\" to leave it, \"help\" for what e-mail can do.",
        f"The room: {room_url}",
        "",
        SIGN_OFF,
    ])


def closing(number: str, lines: list[str], room_url: str) -> str:
    since = ["Since the last mail:", "", "\n\n".join(lines), ""] if lines else []
    return "\n".join([
        f"Support case {number} is closed, and its room with it. Thank you for taking part.",
        "",
        *since,
        "The conversation is kept with the case. Replies to this address are no longer posted in the room;",
        "if the problem comes back, reply anyway and you will be told how to reopen the case.",
        "",
        SIGN_OFF,
    ])


# In the room
def posted_by_email(name: str, text: str) -> str:
    return f"{name} (by e-mail):\n{text}"


def invited_by_email(name: str) -> str:
    return f"{name} takes part by e-mail: messages here reach them by mail, and their replies are posted here"


def left_by_email(name: str) -> str:
    return f"{name} left the room (by e-mail)"


def bounced(name: str, reason: str) -> str:
    return f"Mail to {name} cannot be delivered ({reason}); they no longer take part by e-mail"


def sent_by_email(name: str) -> str:
    return f"{name} (by e-mail) sent:"


def attachments_not_posted(name: str, files: list[str], reason: str) -> str:
    return (f"{name} attached {', '.join(files)} by e-mail, which could not be posted here ({reason}); ask them to "
            "share files through the room's link")  # fmt: skip


def ended_by_closure(name: str) -> str:
    return f"{name} removed at closure (took part by e-mail)"
