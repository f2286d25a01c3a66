"""`caseroom sandbox` (the emulators alone) and `caseroom demo` (one whole case, narrated)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

console = Console(highlight=False)


def sandbox(
    public_url: Annotated[str, typer.Option(metavar="URL", help="Where CaseRoom will listen (webhooks go there).")] = (
        "http://127.0.0.1:8000"
    ),
) -> None:
    """Run the local Webex, Slack, Salesforce and Zendesk emulators and a mail server alone.

    Prints the environment that points CaseRoom at them; Ctrl-C stops them.
    """
    from caseroom_sandbox.launch import launch

    sb = launch(public_url, mail=True)
    console.print("[bold]Sandbox running[/bold] (development and evaluation only; not the real clouds)")
    for name, url in sb.urls.items():
        console.print(f"  {name:<11} {url}   control API: {url}/_sandbox/state")
    console.print("\nEnvironment for CaseRoom:")
    for key, value in sb.env.items():
        console.print(f"  export {key}={value}")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    sb.stop()


def demo() -> None:
    """Drive one whole case through CaseRoom and the sandbox, and narrate it.

    Opens a case in the sandbox CRM, talks in its room, rotates it, closes it, and prints what happened.
    """
    from caseroom_sandbox.demo import run_demo

    raise typer.Exit(run_demo())
