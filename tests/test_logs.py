"""The lines an operator reads: each names its case, text stays one line a record, JSON one object a line, and the
HTTP clients' chatter appears only when debugging. (The lifecycle's own lines, as a running service writes them, are
read in tests/test_third_party_plugin.py and tests/test_deployment.py.)"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator

import pytest

from bot import logs
from bot.logs import LogFormat

LIFECYCLE = logging.getLogger("bot.lifecycle")


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    chatty = {name: logging.getLogger(name).level for name in (*logs.CHATTY, "an.sdk")}
    yield
    root.handlers[:], root.level = handlers, level
    for name, was in chatty.items():
        logging.getLogger(name).setLevel(was)


def on_another_thread(fn: Callable[[], None]) -> None:
    t = threading.Thread(target=fn)
    t.start()
    t.join()


def test_text_lines_name_their_case_on_any_thread_and_someone_elses_text_cannot_start_a_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("info", LogFormat.TEXT)
    LIFECYCLE.info("before any case")
    with logs.about_case("00001234"):
        LIFECYCLE.info("opened (%s)", "New\n2026-12-05 INFO bot.lifecycle: case 00009999: closed")
        on_another_thread(logs.carried(lambda: logging.getLogger("bot.membership").warning("refused")))
    on_another_thread(lambda: LIFECYCLE.info("no case here"))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4, lines
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(rf"{stamp} INFO bot\.lifecycle: before any case", lines[0])
    forged = r"New\\n2026-12-05 .*: closed"  # the newline written as \n, on the case's own line
    assert re.fullmatch(rf"{stamp} INFO bot\.lifecycle: case 00001234: opened \({forged}\)", lines[1])
    assert lines[2].endswith("WARNING bot.membership: case 00001234: refused")
    assert lines[3].endswith("INFO bot.lifecycle: no case here")


def test_json_is_one_object_a_line_with_the_case_and_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", LogFormat.JSON)
    with logs.about_case("00001234"):
        try:
            raise RuntimeError("the room could not be made")
        except RuntimeError:
            LIFECYCLE.exception("failed:\n%s", "two lines")
    LIFECYCLE.info("idle")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["case"] == "00001234" and first["level"] == "error" and first["logger"] == "bot.lifecycle"
    assert first["message"] == "failed:\ntwo lines"
    assert "RuntimeError: the room could not be made" in first["error"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["time"])
    assert second == {"time": second["time"], "level": "info", "logger": "bot.lifecycle", "message": "idle"}


@pytest.mark.parametrize(("level", "heard"), [("info", False), ("debug", True)])
def test_http_clients_and_the_plugins_sdks_speak_only_when_debugging(
    level: str, heard: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(level, LogFormat.TEXT, quiet=["an.sdk"])
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1/webhooks/slack")
    logging.getLogger("an.sdk.rest").info("POST /v1/messages")
    logging.getLogger("an.sdk.rest").warning("rate limited; waiting 2 s")
    LIFECYCLE.info("room ready")
    err = capsys.readouterr().err
    assert ("HTTP Request" in err) is heard and ("POST /v1/messages" in err) is heard
    assert "rate limited" in err and "room ready" in err
