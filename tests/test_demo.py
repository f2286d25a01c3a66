"""`caseroom demo` drives one whole case through the sandbox and says what happened at each step."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import CASEROOM, command_env


def test_the_demo_runs_a_case_from_open_to_closed_and_shows_every_step(tmp_path: Path) -> None:
    done = subprocess.run([CASEROOM, "demo"], cwd=tmp_path, env=command_env(COLUMNS="200"), capture_output=True,
                          text=True, timeout=180)  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    for expected in (
        "1. Salesforce: Carol opens a case",
        "Salesforce Room_URL__c = http://127.0.0.1:",
        "room> Welcome to the room of case",
        "uploaded tunnel.pcap",
        "CRM status: New",
        "Handoff: Ada Lovelace hands this case to Kenji Sato",
        "filed on the case: case-",
        "case comment: CaseRoom transcript for case",
        "space now: members ['caseroom@webex.bot'], announcement-only",
        "Demo complete",
    ):
        assert expected in out, f"{expected!r} missing from the demo's output:\n{out[-4000:]}"
