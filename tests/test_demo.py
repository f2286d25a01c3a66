"""`caseroom demo` drives one whole case through the sandbox and says what happened at each step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_the_demo_runs_a_case_from_open_to_closed_and_shows_every_step(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBEX_", "SLACK_", "SALESFORCE_", "CASEROOM_"))}
    env["COLUMNS"] = "200"
    caseroom = str(Path(sys.executable).with_name("caseroom"))
    done = subprocess.run([caseroom, "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
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
