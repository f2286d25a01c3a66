"""Slack's text rules: escape what we send, read what arrives, and derive channel names."""

from __future__ import annotations

import re
from collections.abc import Callable

NAME_LIMIT = 80
NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")
# Message subtypes that are something a person said. The rest are the channel's own notices ("<@U1> has joined
# the channel", "set the channel topic: ...", whose facts the timeline has from their own events) and the posts of
# legacy integrations (bot_message), which the room's record leaves out live and at closure alike.
SPOKEN = frozenset({None, "file_share", "thread_broadcast", "me_message"})
# Slack's angle-bracket markup: <@U1|name>, <#C1|name>, <!here>, <!subteam^S1|@team>, <https://x|label>.
MARKUP = re.compile(r"<([@#!]?)([^<>|]*)(?:\|([^<>]*))?>")


def escape(text: str) -> str:
    """Neutralise mentions (``<!channel>``, ``<@U1>``) and links in untrusted text: & first, then < and >."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Text in events is already escaped; the timeline stores what people wrote."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def readable(text: str, name_of: Callable[[str], str]) -> str:
    """A message as people read it in Slack: ``<@U1>`` is ``@Ada Lovelace`` (``name_of`` the user id), a channel
    ``#name``, ``<!here>`` ``@here``, a labelled link ``label (url)``; then the entities unescaped.

    For the record only: this text is never sent back to Slack unescaped, so ``@here`` in it pings nobody.
    """

    def one(m: re.Match[str]) -> str:
        sigil, target, label = m.group(1), m.group(2), m.group(3)
        if sigil == "@":
            return "@" + (name_of(target) or label or target)
        if sigil == "#":
            return "#" + (label or target)
        if sigil == "!":
            return label or "@" + target.split("^", 1)[0]
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        return f"{label} ({target})" if label and label != target else target

    return unescape(MARKUP.sub(one, text))


def channel_name(template: str, number: str, attempt: int = 1) -> str:
    """``case-{number}`` -> ``case-00001234``; the n-th attempt gets ``-n`` (deterministic, never random)."""
    base = NOT_ALLOWED.sub("-", template.format(number=number).lower()).strip("-_") or "case"
    suffix = "" if attempt == 1 else f"-{attempt}"
    return base[: NAME_LIMIT - len(suffix)] + suffix


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
