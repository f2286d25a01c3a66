"""Words the bot says in rooms. Plain text: each adapter escapes it for its platform."""

from __future__ import annotations

from integrations.messaging import Card

BOT = "CaseRoom"  # who speaks, on the timeline, when the bot posts in a room


def human_size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} bytes"


def room_title(number: str, subject: str, limit: int = 120) -> str:
    title = f"Case {number}: {' '.join(subject.split())}" if subject.strip() else f"Case {number}"
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def welcome(number: str, subject: str, engineer: str | None, customer: str | None) -> str:
    lines = [f"Welcome to the room of case {number}: {subject}".rstrip(": ")]
    if customer:
        lines.append(f"Customer: {customer}")
    lines.append(f"Engineer: {engineer}" if engineer else "Waiting for an engineer to be assigned.")
    lines.append("Type /case help to see what I can do.")
    return "\n".join(lines)


def joined(name: str) -> str:
    return f"{name} joined the room"


def left(name: str) -> str:
    return f"{name} left the room"


def uploaded(name: str, file_name: str, size: int | None) -> str:
    return f"{name} uploaded {file_name} ({human_size(size)})"


def upload_blocked(name: str, reason: str) -> str:
    return f"{name} uploaded a file that is not filed on the case: {reason}"


def upload_entry(uploads: list[str], said: str) -> str:
    """A message with files on the timeline: what was uploaded, then what its sender typed with it."""
    return "; ".join(uploads) + (f": {said}" if said else "")


def file_not_filed(name: str, error: str) -> str:
    reason = error.split(": ", 1)[-1] if ": " in error else error
    return f"{name} could not be filed on the CRM case: {reason}"


def refused(email: str, reason: str) -> str:
    return f"Could not add {email} to this room: {reason}"


def invited(email: str) -> str:
    return f"An invitation to join this room was sent to {email}"


def rotation(previous: str | None, new: str) -> str:
    if previous:
        return f"Handoff: {previous} hands this case to {new}"
    return f"{new} is now the engineer on this case"


def closing(number: str) -> str:
    return f"Case {number} is closed. The transcript and files are being filed on the case; this room will be archived."


# -- handoffs ----------------------------------------------------------------------------------------
OWNER_CHANGED = "the case owner changed in the CRM"
TAKEN_FROM_QUEUE = "taken from the queue in the CRM"
NO_OPEN_QUESTIONS = "none: the last word is the engineer's"
NOTHING_YET = "none yet"
NO_FILES = "none"


def shift_starts(region: str, local_start: str) -> str:
    return f"the {region} shift starts ({local_start})"


def handed_over_by(name: str) -> str:
    return f"handed over by {name} (/case handoff)"


def engineer_at(name: str, email: str, local_time: str) -> str:
    who = f"{name} <{email}>" if name and name.lower() != email.lower() else email
    return f"{who}, {local_time}"


def taken_by(new: str) -> str:
    return f"Taken by {new}: {new} is now the engineer on this case"


def handoff_card(
    number: str,
    *,
    previous: str | None,
    new: str,
    rows: list[tuple[str, str]],
    taken: bool = False,
) -> Card:
    """The handoff as a card; the title keeps the one-line wording of a plain handoff."""
    title = taken_by(new) if taken else rotation(previous, new)
    return Card(title, rows, f"Case {number} · /case status and /case timeline for the rest")


def handoff_done(new: str) -> str:
    return f"Handed over to {new}; the handoff card is in the room."


def already_holds(new: str) -> str:
    return f"{new} already has this case."
