"""Parse a signed webhook's JSON body strictly, so hostile JSON is a 400 and never a 500.

A signature proves who sent a body, not that it is sane: ``json.loads`` guesses UTF-16 and UTF-32 from the
first bytes (and the raw body is later stored as UTF-8), and it recurses once per nesting level until
``RecursionError``. JSON between systems is UTF-8 (RFC 8259, section 8.1), and no webhook we take nests
anywhere near ``MAX_DEPTH`` levels.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
_SPECIAL = re.compile(r'[\[\]{}"\\]')


class MalformedJSON(ValueError):
    pass


def loads(body: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed body, or :class:`MalformedJSON` saying what is wrong with it."""
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedJSON("the body is not UTF-8 (JSON between systems must be, RFC 8259)") from None
    if too_deep(body, max_depth):
        raise MalformedJSON(f"the body nests deeper than {max_depth} levels")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedJSON(str(exc)) from None


def too_deep(text: str, max_depth: int) -> bool:
    if text.count("[") + text.count("{") <= max_depth:
        return False  # the common case, decided without a scan
    # One pass over the characters that matter (a regex that strips strings first is quadratic on some inputs).
    depth, in_string, escaped_at = 0, False, -1
    for m in _SPECIAL.finditer(text):
        c, at = m.group(), m.start()
        if at == escaped_at:
            continue
        if c == "\\":
            escaped_at = at + 1
        elif c == '"':
            in_string = not in_string
        elif in_string:
            continue  # brackets inside strings do not nest
        elif c in "[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False
