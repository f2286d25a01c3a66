"""`caseroom transcript export|search`: a case's transcript to a file, and search across cases, from the shell.

Mounted by the ``caseroom.cli`` entry point ``transcript = "bot.transcript_cli:app"``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bot import cases, schema, search, transcript
from bot.cli_errors import fail
from bot.config import ConfigError, Settings, load_settings
from bot.db import DatabaseUnreachable
from bot.jobs import JobQueue
from bot.services import Services

app = typer.Typer(help="Export case transcripts and search across cases.", no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True)  # progress and messages on stderr, so stdout can carry the transcript


def _services() -> Services:
    try:
        settings: Settings = load_settings()
    except ConfigError as exc:
        fail(str(exc))
    try:
        db = schema.opened_current(settings.database_url)  # reading transcripts creates no database
    except (schema.SchemaError, DatabaseUnreachable) as exc:
        fail(str(exc))
    return Services(settings, db, JobQueue(db))


@app.command()
def export(
    case: Annotated[str, typer.Argument(metavar="CASE", help="Case number, as in the CRM.")],
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="|".join(transcript.FORMATS),
                                     help="The transcript's format.")] = "html",
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE",
                                             help="File to write; standard output if omitted.")] = None,
) -> None:
    """Write a case's transcript, read from its timeline a page at a time as it is written."""
    if fmt not in transcript.FORMATS:
        fail(f"unknown format {fmt!r}; use one of {', '.join(transcript.FORMATS)}")
    sv = _services()
    try:
        with sv.db.session() as s:
            found = cases.case_by_number(s, case)
        if found is None or found.id is None:
            fail(f"no case {case}", 1)
        doc = transcript.build(sv.db, found.id)
        total = doc.count()
        target: TextIO = out.open("w", encoding="utf-8") if out else sys.stdout
        try:
            with Progress(
                TextColumn(f"case {found.number} → {fmt}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                disable=out is None and not console.is_terminal,
            ) as bar:
                task = bar.add_task("export", total=total)
                transcript.write(doc, fmt, target, progress=lambda n: bar.update(task, completed=n))
        finally:
            if out:
                target.close()
    finally:
        sv.db.dispose()
    if out:
        console.print(Text(f"{total} entries written to {out}"))


@app.command("search")
def search_cmd(
    words: Annotated[list[str], typer.Argument(metavar="WORDS", help="Words that must all appear.")],
    limit: Annotated[int, typer.Option(metavar="N", min=1, help="How many cases to show.")] = 10,
    closed: Annotated[bool, typer.Option("--closed", help="Only resolved (closed) cases.")] = False,
) -> None:
    """The cases whose messages, notes, subject or description contain the words, best first."""
    text = " ".join(words)
    if not search.terms(text):
        fail("give at least one word to look for")
    sv = _services()
    try:
        with sv.db.session() as s:
            hits = search.search(s, text, limit=limit, closed_only=closed)
    finally:
        sv.db.dispose()
    if not hits:
        console.print(Text(f"no case mentions {text!r}"))
        raise typer.Exit(1)
    table = Table("case", "subject", "state", "matched", "link")
    for h in hits:
        # Text(), not str: a bracket in someone's message is not Rich markup.
        state = "resolved" if h.is_closed else (h.status or "open")
        table.add_row(*(Text(v) for v in (h.number, h.subject, state, h.snippet, sv.stable_url(h.number))))
    Console().print(table)
