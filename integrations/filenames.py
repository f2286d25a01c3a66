"""File names that are safe to hand to a CRM, whatever a room member called the upload.

A name typed by a customer is data, not a path: ``../../etc/passwd <@all>`` must not become a path, markup or a
mention where the CRM (or whoever downloads the file from it) uses it. :func:`safe_file_name` keeps the last
path part, drops control and invisible formatting characters (a right-to-left override can make ``exe.txt`` read
as ``txt.exe``), replaces characters that Windows, macOS or markup treat specially, and keeps the extension when
it shortens. :func:`visible` renders the original for a description, with nothing invisible left in it.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 200  # well inside Salesforce's PathOnClient (500) and Title (255), and most file systems' 255 bytes
_SPECIAL = re.compile(r'[<>:"|?*`\\/]')
_SPACE = re.compile(r"\s+")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def _invisible(ch: str) -> bool:
    # Cc control, Cf format (bidi overrides, zero-width), Cs surrogates, Co private use, Cn unassigned.
    return unicodedata.category(ch).startswith("C")


def safe_file_name(name: str, fallback: str = "file") -> str:
    """A single-component file name with no control characters, no path or markup characters, at most
    :data:`MAX_CHARS` long; ``fallback`` if nothing usable is left."""
    text = unicodedata.normalize("NFC", name)
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in _SPACE.sub(" ", text) if not _invisible(ch))  # line breaks and tabs become spaces
    text = _SPACE.sub(" ", _SPECIAL.sub("_", text)).strip(" .")
    if not text:
        return fallback
    stem, dot, ext = text.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, dot, ext = text, "", ""
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    if len(stem) + len(dot) + len(ext) > MAX_CHARS:
        stem = stem[: MAX_CHARS - len(dot) - len(ext)].rstrip(" .") or fallback
    return f"{stem}{dot}{ext}"


def visible(name: str, limit: int = 300) -> str:
    """The name as given, with every invisible character written as an escape (``\\u202e``), shortened."""
    shown = "".join(ch.encode("unicode_escape").decode("ascii") if _invisible(ch) else ch for ch in name)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
