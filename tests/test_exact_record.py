"""The filed record is exact: each upload, transcript and comment lands on the CRM case once, whatever races or fails.

Through the Webex emulator (real SDK, real webhooks) and the recording CRM double.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx

from bot.models import JobStatus
from integrations.crm import TransientCRMError
from tests.support import wait_until
from tests.webex_world import WebexWorld, webex_world

CUSTOMER = "carol@customer.example"
CLOSE = {"event_id": "evt_close", "type_": "case.closed", "occurred_at": "2026-11-23T09:00:00Z", "status": "Closed"}


def upload(w: WebexWorld, room_id: str, name: str, text: str = "the dump", **file: Any) -> dict[str, Any]:
    content = base64.b64encode(name.encode() * 100).decode()
    return w.act("act/message", as_email=CUSTOMER, room_id=room_id, text=text,
                 file={"name": name, "mime": "application/octet-stream", "content_b64": content, **file})  # fmt: skip


def filed(w: WebexWorld) -> list[str]:
    return [c["name"] for c in w.state.calls("crm.attach_file")]


def closed(w: WebexWorld) -> bool:
    return w.room()["isLocked"] and bool(w.room().get("isAnnouncementOnly")) and not w.rt.queue.pending()


def deferred(w: WebexWorld, kind: str) -> float:
    """How often jobs of ``kind`` were told "not yet" (a closure waiting for uploads, a file being scanned)."""
    page = httpx.get(f"{w.url}/metrics").text
    found = re.search(rf'caseroom_jobs_total\{{kind="{re.escape(kind)}",outcome="deferred"\}} ([0-9.]+)', page)
    return float(found.group(1)) if found else 0.0


def opened(w: WebexWorld) -> str:
    w.deliver()
    w.settle(lambda: bool(w.state.calls("crm.write_room_url")))
    return str(w.room()["id"])


def test_an_upload_racing_closure_is_filed_once_and_closure_waits_for_it(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        room_id = opened(w)
        attaching, release = threading.Event(), threading.Event()
        attach = w.crm.attach_file

        def held_first_time(crm_id: str, name: str, content: bytes, mime: str) -> str:
            if name == "router-dump.bin" and not attaching.is_set():
                attaching.set()
                release.wait(30)
            return attach(crm_id, name, content, mime)

        w.crm.attach_file = held_first_time  # type: ignore[method-assign]
        before = deferred(w, "case.event")
        upload(w, room_id, "router-dump.bin")
        assert attaching.wait(20), "the upload's job never reached the CRM"
        # The upload's own job is in the middle of filing it when the case closes.
        w.deliver(**CLOSE)
        wait_until(lambda: deferred(w, "case.event") > before or filed(w).count("router-dump.bin") > 0, 20,
                   lambda: "closure neither waited nor filed")  # fmt: skip
        assert not filed(w), "closure filed the upload its own job is filing"
        assert not w.room()["isLocked"] or w.room().get("isAnnouncementOnly") is not True
        release.set()
        w.settle(lambda: closed(w), timeout=30)
        assert filed(w).count("router-dump.bin") == 1
        assert filed(w).count("case-00001234-transcript.html") == 1
        assert w.rt.queue.counts().get(JobStatus.DEAD, 0) == 0
        # Live capture and closure's export meet on the message: the upload is one entry, with its text.
        [doc] = [c["text"] for c in w.state.calls("crm.attach_file") if c["name"].endswith("transcript.json")]
        texts = [e["text"] for e in json.loads(doc)["entries"]]  # whoever's: the bot's announcement is no entry
        assert [t for t in texts if "router-dump" in t or "the dump" in t] == [
            "carol uploaded router-dump.bin (1.5 KB): the dump"]


def test_a_crash_between_the_file_row_and_its_job_loses_nothing(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        room_id = opened(w)
        enqueue, crashed = w.rt.queue.enqueue, list[str]()

        def crash_once(session: Any, kind: str, payload: dict[str, Any], **kw: Any) -> int | None:
            if kind == "file.to_crm" and not crashed:
                crashed.append(kind)
                raise RuntimeError("the worker died here")
            return enqueue(session, kind, payload, **kw)

        w.rt.queue.enqueue = crash_once  # type: ignore[method-assign]
        upload(w, room_id, "vpn.log")
        w.settle(lambda: "vpn.log" in filed(w), timeout=30)
        assert crashed and filed(w) == ["vpn.log"]
        texts = w.texts(room_id)
        assert sum("uploaded vpn.log" in t for t in texts) == 1


def test_a_retried_closure_files_each_transcript_part_once(tmp_path: Path) -> None:
    with webex_world(tmp_path) as w:
        room_id = opened(w)
        w.act("act/message", as_email=CUSTOMER, room_id=room_id, text="it drops at 14:00")
        add_comment, failed = w.crm.add_comment, list[str]()

        def fail_summary_once(crm_id: str, text: str) -> None:
            if "transcript" in text.lower() and not failed:
                failed.append(text)
                raise TransientCRMError("503 Service Unavailable", retry_after=0.1)
            add_comment(crm_id, text)

        w.crm.add_comment = fail_summary_once  # type: ignore[method-assign]
        w.deliver(**CLOSE)
        w.settle(lambda: closed(w), timeout=30)
        assert failed, "the summary comment was never tried"
        assert filed(w).count("case-00001234-transcript.html") == 1
        assert filed(w).count("case-00001234-transcript.json") == 1
        summaries = [c for c in w.state.calls("crm.add_comment") if "transcript" in c["text"].lower()]
        assert len(summaries) == 1
