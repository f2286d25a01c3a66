"""`caseroom sandbox` (the emulators alone) and `caseroom demo` (one whole case, narrated)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

sandbox_app = typer.Typer(help="Run the local Webex, Slack and Salesforce emulators alone.",
                          invoke_without_command=True)  # fmt: skip
demo_app = typer.Typer(help="Drive one whole case through CaseRoom and the sandbox, and narrate it.",
                       invoke_without_command=True)  # fmt: skip
console = Console(highlight=False)


@sandbox_app.callback()
def sandbox(
    public_url: Annotated[str, typer.Option(help="Where CaseRoom will listen (webhooks go there).")] = (
        "http://127.0.0.1:8000"
    ),
) -> None:
    """Start the emulators and print the environment that points CaseRoom at them."""
    from caseroom_sandbox.launch import launch

    sb = launch(public_url)
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


@demo_app.callback()
def demo() -> None:
    """Open a case in the sandbox CRM, talk in the room, rotate, close; print what happened."""
    from caseroom_sandbox.demo import run_demo

    raise typer.Exit(run_demo())
