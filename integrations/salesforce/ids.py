"""Salesforce record ids: the 15-character case-sensitive id and its 18-character case-safe form.

The three extra characters encode which of the first 15 are upper-case letters (one character per block of
five), so an 18-character id carries its own checksum: comparing all 18 catches an id whose case was changed or
whose suffix was edited, which comparing the first 15 alone lets through.
"""

from __future__ import annotations

import string

_SUFFIX = string.ascii_uppercase + "012345"
_ALPHABET = frozenset(string.ascii_letters + string.digits)


def case_safe(id15: str) -> str:
    """The 18-character form of a 15-character id."""
    suffix = ""
    for start in range(0, 15, 5):
        bits = sum(1 << i for i, ch in enumerate(id15[start : start + 5]) if ch in string.ascii_uppercase)
        suffix += _SUFFIX[bits]
    return id15 + suffix


def canonical(record_id: str) -> str | None:
    """The 18-character form of a 15- or 18-character id; ``None`` if it is not a well-formed Salesforce id
    (wrong length, a character outside A-Z a-z 0-9, or an 18-character id whose suffix does not match)."""
    if len(record_id) not in (15, 18) or not set(record_id) <= _ALPHABET:
        return None
    full = case_safe(record_id[:15])
    return full if len(record_id) == 15 or record_id == full else None


def same_record(given: str, expected: str) -> bool:
    """Both name the same record: all 18 characters agree (a 15-character id stands for its 18-character form)."""
    found = canonical(given)
    return found is not None and found == canonical(expected)
