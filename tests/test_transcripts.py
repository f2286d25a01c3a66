"""Transcripts: golden HTML and JSON (schema-valid), Markdown, the HTTP route, the CLI, closure, flat memory.

Golden files live in tests/golden/; regenerate them with ``CASEROOM_UPDATE_GOLDEN=1 pytest tests/test_transcripts.py``
and read the diff before committing it.
"""

from __future__ import annotations

import json
import os
import re
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from typer.testing import CliRunner

from bot import schema, transcript
from bot.db import Database
from bot.models import Case, TimelineEvent
from bot.runtime import Runtime
from bot.transcript_cli import app as transcript_cli
from integrations.messaging import Visibility
from tests.doubles import SharedState
from tests.knowledge_world import HOSTILE, START, deliver, lived_in_room
from tests.support import case_event

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = json.loads((Path(__file__).parents[1] / "manifest" / "transcript.schema.json").read_text())
LIMIT = Visibility(sees_all_messages=False, limitation="Only messages that mention CaseRoom are seen in this space.")


def validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


def normalise(text: str, rt: Runtime) -> str:
    """Replace the one wall-clock value (when the case row was created) with a placeholder."""
    with rt.db.session() as s:
        case = s.get(Case, 1)
        assert case is not None
        opened = case.created_at
    text = text.replace(opened.isoformat(), "OPENED_AT")
    return text.replace(opened.strftime("%Y-%m-%d %H:%M:%S UTC"), "OPENED_AT_SHOWN")


def golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CASEROOM_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual)
    assert actual == path.read_text(), f"{name} changed; set CASEROOM_UPDATE_GOLDEN=1 to accept it"


def render(rt: Runtime, fmt: transcript.Format, visibility: Visibility | None = LIMIT) -> str:
    doc = transcript.build(rt.db, 1, visibility=visibility)
    return {"html": transcript.to_html, "json": transcript.to_json, "md": transcript.to_markdown}[fmt](doc)


def test_golden_html_and_json_transcripts(db_url: str, state_file: Path) -> None:
    rt, _ = lived_in_room(db_url, state_file)
    page = normalise(render(rt, "html"), rt)
    golden("transcript.html", page)

    data = json.loads(render(rt, "json"))
    validate(data)
    assert data["entry_count"] == len(data["entries"])
    golden("transcript.json", normalise(json.dumps(data, indent=2, ensure_ascii=False) + "\n", rt))


def test_html_escapes_marks_nests_and_dates(db_url: str, state_file: Path) -> None:
    rt, _ = lived_in_room(db_url, state_file)
    page = render(rt, "html")
    # Hostile text and names are inert; links are only the CRM's http(s) URLs.
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<img" not in page and "javascript:" not in re.sub(r"<span class='t'>[^<]*</span>", "", page)
    assert all(h.startswith("https://") for h in re.findall(r"href='([^']*)'", page))
    assert "<link" not in page and "src=" not in page.replace("src=x", "")  # no external asset
    # A date on each UTC day; times in UTC in the markup, the viewer's offset added by the inline script.
    assert page.count("<h3 class='day'>") == 2 and "Monday 23 November 2026" in page
    assert "datetime='2026-11-23T00:30:00+00:00'>2026-11-23 00:30:00 UTC</time>" in page  # nested, other day
    assert "getTimezoneOffset" in page
    # The late reply sits inside the replies of the first message, before the second top-level message.
    first, second = page.index("The VPN drops every hour."), page.index("Which client version?</span>")
    replies = page.index("<div class='replies'>", first)
    assert first < replies < page.index("Lowering the MTU to 1400") < second
    assert "[edited]</span> <span class='t'>Which client version, exactly?" in page
    assert "[deleted]" in page
    for fragment in ("joined the room", "left the room", "Handoff: Ada hands this case to Kenji", "[note]"):
        assert fragment in page
    assert "capture &lt;1&gt;.pcap</td><td>2.3 MB</td>" in page and "file-capture &lt;1&gt;.pcap</a>" in page
    assert "What CaseRoom could not see:</strong> Only messages that mention CaseRoom" in page
    assert "What CaseRoom could not see" not in render(rt, "html", visibility=Visibility())


def test_markdown_escapes_and_nests(db_url: str, state_file: Path) -> None:
    rt, _ = lived_in_room(db_url, state_file)
    text = render(rt, "md")
    assert "### Sunday 22 November 2026" in text and "### Monday 23 November 2026" in text
    assert "\\[link\\](javascript:alert(1))" in text and "<script>" not in text
    assert "  - `2026-11-23 00:30 UTC` **Ada** Lowering the MTU" in text


def test_the_route_streams_each_format_and_refuses_the_unknown(db_url: str, state_file: Path) -> None:
    rt, _ = lived_in_room(db_url, state_file)
    assert TestClient(rt.app).get("/cases/00001234/transcript").status_code == 404  # no admin configured: off
    from bot.app import create_app

    rt.services.settings = rt.settings.model_copy(update={"admin_header": "X-Admin-User"})
    client = TestClient(create_app(rt.services), headers={"X-Admin-User": "ops@support.example"})
    r = client.get("/cases/00001234/transcript")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'sha256-" in r.headers["content-security-policy"]
    assert "Lowering the MTU to 1400" in r.text
    as_json = client.get("/cases/00001234/transcript?format=json")
    validate(as_json.json())
    assert client.get("/cases/00001234/transcript?format=md").text.startswith("# Case 00001234")
    assert client.get("/cases/00001234/transcript?format=pdf").status_code == 400
    assert client.get("/cases/99999999/transcript").status_code == 404


def test_closure_files_schema_valid_transcripts_on_the_crm(db_url: str, state_file: Path) -> None:
    rt, _ = lived_in_room(db_url, state_file)
    deliver(rt, case_event("evt_close", "case.closed", occurred_at="2026-11-23T09:00:00Z", status="Closed"))
    attached = {c["name"]: c for c in SharedState(state_file).calls("crm.attach_file")}
    page = attached["case-00001234-transcript.html"]["text"]
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    data = json.loads(attached["case-00001234-transcript.json"]["text"])
    validate(data)
    assert data["case"]["status"] == "Closed"
    assert any(e["text"] == HOSTILE for e in data["entries"])
    comment = [c["text"] for c in SharedState(state_file).calls("crm.add_comment") if "transcript" in c["text"]]
    assert comment and "messages" in comment[0]


def test_cli_exports_to_a_file_with_progress(tmp_path: Path, state_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    rt, _ = lived_in_room(url, state_file)
    rt.stop()
    for key, value in {"CASEROOM_DATABASE_URL": url, "CASEROOM_PUBLIC_URL": "https://caseroom.example",
                       "CASEROOM_SANDBOX": "false", "CASEROOM_CRM_WEBHOOK_SECRET": "s"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    out = tmp_path / "t.json"
    result = CliRunner().invoke(transcript_cli, ["export", "00001234", "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    validate(json.loads(out.read_text()))
    assert CliRunner().invoke(transcript_cli, ["export", "00009999"]).exit_code == 1
    assert CliRunner().invoke(transcript_cli, ["export", "00001234", "--format", "pdf"]).exit_code == 2
    found = CliRunner().invoke(transcript_cli, ["search", "flapping", "tunnel"])
    assert found.exit_code == 0 and "00001234" in found.output, found.output


def _room_of(db: Database, n: int) -> int:
    """A case whose room holds ``n`` messages, inserted in bulk (the export is what is measured)."""
    with db.session() as s:
        case = Case(crm_id=f"crm-{n}", number=f"N{n}", subject="big room")
        s.add(case)
        s.commit()
        assert case.id is not None
        rows = [{"case_id": case.id, "at": START + timedelta(seconds=i), "kind": "message", "text": f"message {i} " * 8,
                 "data": {"message_id": f"m{n}-{i}", "parent_id": f"m{n}-{i - i % 10}" if i % 10 else None},
                 "source_key": f"msg:m{n}-{i}"} for i in range(n)]  # fmt: skip
        for start in range(0, n, 5000):
            s.execute(insert(TimelineEvent), rows[start : start + 5000])
        s.commit()
        return case.id


def _peak(db: Database, case_id: int, out: Path) -> int:
    with out.open("w") as f:
        doc = transcript.build(db, case_id)
        tracemalloc.start()
        transcript.write(doc, "html", f)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_transcript_being_read_holds_no_connection_between_pages(tmp_path: Path) -> None:
    """A slow download (or a CRM receiving it) must not keep a connection, SQLite's snapshot or a transaction open."""
    db = Database(f"sqlite:///{tmp_path / 'big.db'}")
    schema.upgrade(db)
    case_id = _room_of(db, 1_200)
    entries = transcript.build(db, case_id).entries()
    first = next(entries)
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    rest = list(entries)
    assert [first.text, *(e.text for e in rest)][:2] == ["message 0 " * 8, "message 1 " * 8]
    assert len(rest) == 1_199 and [e.seq for e in rest] == list(range(2, 1_201))
    assert all(e.depth == (0 if i % 10 == 0 else 1) for i, e in enumerate([first, *rest]))


def test_export_memory_does_not_grow_with_the_room(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'big.db'}")
    schema.upgrade(db)
    small, large = _room_of(db, 2_000), _room_of(db, 20_000)
    p_small, p_large = _peak(db, small, tmp_path / "s.html"), _peak(db, large, tmp_path / "l.html")
    assert (tmp_path / "l.html").stat().st_size > 8 * (tmp_path / "s.html").stat().st_size
    assert p_large < 1.5 * p_small, (p_small, p_large)  # ten times the messages, about the same memory
