"""A plugin from outside the product adds a chat platform and a CRM: installed through the same entry points as the
shipped ones, with no file of the core changed.

The plugin (``tests/plugin_dist/caseroom_parley.py``, a chat platform "parley" and a CRM "ledger") is installed only
here: its folder, holding its ``.dist-info``, is put on ``PYTHONPATH`` of a ``caseroom`` process, as pip would put it on
``sys.path``. The test drives that process over HTTP only, and reads the plugin's own record of its platform and CRM.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.support import CASEROOM, command_env, first_answer, free_port, wait_until

PLUGIN_DIR = Path(__file__).resolve().parent / "plugin_dist"
TOKEN, SECRET = "a-parley-token-of-the-test", "a-ledger-secret-of-the-test"
ENGINEER, CUSTOMER = "eli@support.example", "cara@customer.example"
OPENED = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def plugin_env(tmp_path: Path, **values: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(PLUGIN_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return command_env(PYTHONPATH=path, CASEROOM_DATABASE_URL=f"sqlite:///{tmp_path / 'plugin.db'}", COLUMNS="200",
                       **values)  # fmt: skip


def run(tmp_path: Path, *args: str, **values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CASEROOM, *args], cwd=tmp_path, env=plugin_env(tmp_path, **values), capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


@contextmanager
def serving(tmp_path: Path) -> Iterator[httpx.Client]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = plugin_env(tmp_path, PARLEY_TOKEN=TOKEN, LEDGER_SECRET=SECRET, CASEROOM_PUBLIC_URL=base,
                     CASEROOM_LOG_FORMAT="json")  # fmt: skip
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([CASEROOM, "serve", "--port", str(port)], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    client = httpx.Client(base_url=base, timeout=10)
    try:
        assert first_answer(proc, f"{base}/healthz", 60, (tmp_path / "serve.log").read_text).status_code == 200
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def world(client: httpx.Client) -> dict[str, Any]:
    return dict(client.get("/parley/world").json())


def case_saved(client: httpx.Client, status: str, minutes: int) -> None:
    fields = {"id": "LDG-7", "number": "00004242", "subject": "Printer on fire", "status": status, "priority": "High",
              "customer": {"email": CUSTOMER, "name": "Cara"}, "engineer": {"email": ENGINEER, "name": "Eli"},
              "modified": (OPENED + timedelta(minutes=minutes)).isoformat()}  # fmt: skip
    assert client.post("/webhooks/ledger", json=fields, headers={"X-Ledger-Secret": SECRET}).json()["ok"]


def said(client: httpx.Client, n: int, who: str, text: str, **extra: Any) -> None:
    at = (OPENED + timedelta(minutes=n)).isoformat()
    event = {"id": f"evt-{n}", "type": "message", "conversation": "conv-00004242", "text": text,
             "user": {"id": f"p-{who}", "email": who}, "at": at, **extra}  # fmt: skip
    assert client.post("/webhooks/parley", json=event, headers={"X-Parley-Token": TOKEN}).json()["ok"]


def test_a_plugin_installed_apart_carries_a_case_from_its_crm_to_its_platform_and_back(tmp_path: Path) -> None:
    with serving(tmp_path) as client:
        assert "platforms: parley, CRMs: ledger" in (tmp_path / "serve.log").read_text()
        forged = client.post("/webhooks/ledger", json={"id": "LDG-9"}, headers={"X-Ledger-Secret": "guess"})
        assert forged.status_code == 401  # the plugin's own route, verified by the plugin

        case_saved(client, "new", 0)
        room_id = "https://eu.parley.example/svc/|conv-00004242"  # two parts the core stores as one opaque id

        def ready() -> bool:
            room = world(client)["rooms"].get(room_id, {})
            return set(room.get("members", ())) == {ENGINEER, CUSTOMER} and bool(room.get("posts"))

        wait_until(ready, 30, lambda: f"no room with both people: {world(client)}")
        wait_until(lambda: world(client)["cases"]["LDG-7"]["room_url"] is not None, 30, lambda: str(world(client)))
        assert world(client)["cases"]["LDG-7"]["room_url"] == f"{client.base_url}/rooms/00004242"
        stable = client.get("/rooms/00004242", follow_redirects=False)
        assert stable.headers["location"] == "https://eu.parley.example/svc/open/conv-00004242"

        # People in the room: a file is announced and filed on the ledger case; a command answers as each role may.
        said(client, 1, CUSTOMER, "here is the log", type="file", files=[{"id": "f1", "name": "printer.log"}])
        said(client, 2, CUSTOMER, "/case note the engineers should read this")
        said(client, 3, ENGINEER, "/case note fuser replaced")

        def answered() -> bool:
            room = world(client)["rooms"][room_id]
            return {p["to"] for p in room["private"]} == {f"p-{CUSTOMER}", f"p-{ENGINEER}"} and any(
                "printer.log" in p["text"] for p in room["posts"]) and any(
                "fuser replaced" in c for c in world(client)["cases"]["LDG-7"]["comments"])  # fmt: skip

        wait_until(answered, 30, lambda: str(world(client)["rooms"][room_id]))
        case = world(client)["cases"]["LDG-7"]
        assert not [c for c in case["comments"] if "engineers should read" in c]  # a customer may not add notes
        refusal = next(p["text"] for p in world(client)["rooms"][room_id]["private"] if p["to"] == f"p-{CUSTOMER}")
        assert refusal == "Sorry, /case note is for the case's engineers."

        case_saved(client, "closed", 30)

        def closed() -> bool:
            room, case = world(client)["rooms"][room_id], world(client)["cases"]["LDG-7"]
            return room["archived"] and not room["members"] and any("transcript" in f["name"] for f in case["files"])

        wait_until(closed, 30, lambda: str(world(client)))
        filed = [f["name"] for f in world(client)["cases"]["LDG-7"]["files"]]
        assert filed.count("printer.log") == 1, filed
        assert 'caseroom_webhook_seconds_count{source="parley"}' in client.get("/metrics").text
    assert "conversations/messages" not in (tmp_path / "serve.log").read_text()  # its SDK's lines: debug only
    # The case's life, one JSON object a line, each naming the case.
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]
    told = [line["message"] for line in lines if line.get("case") == "00004242"]
    assert told[0] == "opened (new, Printer on fire): a room on parley follows", told
    assert any(re.fullmatch(r"room ready on parley in \d+ ms: http://127\.0\.0\.1:\d+/rooms/00004242", m) for m in told)
    assert {f"customer {CUSTOMER} added on parley", f"engineer {ENGINEER} added on parley"} <= set(told), told
    assert told[-1] == "closed: the transcript and 1 file(s) filed on the ledger case; members removed and room " \
                       "archived on parley", told


def test_a_plugins_settings_cli_and_platform_name_are_the_cores_own(tmp_path: Path) -> None:
    bad = run(tmp_path, "serve", "--port", "1", PARLEY_TOKEN=TOKEN, PARLEY_SERVICE_URL="ftp://parley.example",
              CASEROOM_DEFAULT_PLATFORM="teams")  # fmt: skip
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "PARLEY_SERVICE_URL: Value error, must be an http(s) URL" in bad.stderr  # judged with the core's own
    assert "CASEROOM_DEFAULT_PLATFORM: must be one of the installed chat platforms" in bad.stderr
    assert "parley" in bad.stderr.split("CASEROOM_DEFAULT_PLATFORM")[1]
    helped = run(tmp_path, "--help")
    assert helped.returncode == 0 and " parley " in helped.stdout
    named = run(tmp_path, "parley", "room-name", "00004242")
    assert (named.returncode, named.stdout) == (0, "case-00004242\n")


def test_the_core_names_no_vendor_in_code() -> None:
    """Identifiers, imports and strings of ``bot/`` (docstrings and comments may give vendors as examples)."""
    vendor = re.compile(r"slack|webex|salesforce", re.IGNORECASE)
    named = []
    for path in sorted((PLUGIN_DIR.parent.parent / "bot").rglob("*.py")):
        tree = ast.parse(path.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and n.body and isinstance(n.body[0], ast.Expr)}  # fmt: skip
        for node in ast.walk(tree):
            words: list[str] = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                words = [node.value]
            elif isinstance(node, ast.Name | ast.Attribute | ast.FunctionDef | ast.ClassDef | ast.arg):
                words = [getattr(node, f) for f in ("id", "attr", "name", "arg") if hasattr(node, f)]
            elif isinstance(node, ast.Import | ast.ImportFrom):
                words = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            named += [f"{path.name}:{getattr(node, 'lineno', 0)} {w[:60]!r}" for w in words if vendor.search(w)]
    assert named == []
