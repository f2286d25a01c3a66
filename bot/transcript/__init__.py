"""Timeline -> transcript (HTML, JSON, Markdown), streamed so that memory does not grow with the room.

``build`` reads the case's facts and people; the entries are read from the timeline a page at a time
while a renderer writes, each page in its own short session, so nothing is held open between pieces.
``write`` puts a transcript into any text file object, ``chunks`` hands it out piece by piece (an HTTP
response), and ``to_html``/``to_json`` return it whole for the callers that need bytes anyway (a CRM
attachment).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Literal, TextIO

from bot.transcript import as_html, as_json, as_markdown
from bot.transcript.model import Entry, Facts, FileItem, Person, Transcript, build

Format = Literal["html", "json", "md"]
FORMATS: tuple[Format, ...] = ("html", "json", "md")
MEDIA_TYPES: dict[Format, str] = {
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "md": "text/markdown; charset=utf-8",
}
SCHEMA_VERSION = as_json.SCHEMA_VERSION
CSP = as_html.CSP  # Content-Security-Policy to serve the HTML page with
_RENDERERS = {"html": as_html.render, "json": as_json.render, "md": as_markdown.render}

__all__ = [
    "CSP",
    "FORMATS",
    "MEDIA_TYPES",
    "Entry",
    "Facts",
    "FileItem",
    "Format",
    "Person",
    "Transcript",
    "build",
    "chunks",
    "summary_comment",
    "to_html",
    "to_json",
    "to_markdown",
    "write",
]


def chunks(doc: Transcript, fmt: Format, progress: Callable[[int], None] | None = None) -> Iterator[str]:
    try:
        render = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown transcript format {fmt!r}; use one of {', '.join(FORMATS)}") from None
    return render(doc, progress)


def write(doc: Transcript, fmt: Format, out: TextIO, progress: Callable[[int], None] | None = None) -> None:
    for piece in chunks(doc, fmt, progress):
        out.write(piece)


def _whole(doc: Transcript, fmt: Format) -> str:
    buf = io.StringIO()
    write(doc, fmt, buf)
    return buf.getvalue()


def to_html(doc: Transcript) -> str:
    return _whole(doc, "html")


def to_json(doc: Transcript) -> str:
    return _whole(doc, "json")


def to_markdown(doc: Transcript) -> str:
    return _whole(doc, "md")


def summary_comment(doc: Transcript) -> str:
    """The CRM comment that goes with the filed transcript: everyone who took part and every file, none left out.

    Whole: a long one is filed as numbered parts (``bot.filing.comment``), never cut.
    """
    people = ", ".join(p.name or p.email for p in doc.participants) or "nobody"
    files = ", ".join(f.name for f in doc.files) or "none"
    return (
        f"CaseRoom transcript for case {doc.facts.number} filed: {doc.message_count()} messages. "
        f"Participants: {people}. Files: {files}."
    )
