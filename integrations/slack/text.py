"""Slack's text rules: escape what we send, unescape what arrives, and derive channel names."""

from __future__ import annotations

import re

NAME_LIMIT = 80
NOT_ALLOWED = re.compile(r"[^a-z0-9_-]+")


def escape(text: str) -> str:
    """Neutralise mentions (``<!channel>``, ``<@U1>``) and links in untrusted text: & first, then < and >."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Text in events is already escaped; the timeline stores what people wrote."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def channel_name(template: str, number: str, attempt: int = 1) -> str:
    """``case-{number}`` -> ``case-00001234``; the n-th attempt gets ``-n`` (deterministic, never random)."""
    base = NOT_ALLOWED.sub("-", template.format(number=number).lower()).strip("-_") or "case"
    suffix = "" if attempt == 1 else f"-{attempt}"
    return base[: NAME_LIMIT - len(suffix)] + suffix


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
