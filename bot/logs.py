"""How CaseRoom's processes log: one line per event, in text for people or JSON for a log pipeline, each line
naming the case it is about.

The case comes from a context variable set by whatever is working on a case (``about_case``), so every line written
meanwhile carries it (``record.case``), a plugin's warning as much as the lifecycle's own lines, without passing it
down every call.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

T = TypeVar("T")

_case: ContextVar[str | None] = ContextVar("caseroom_case", default=None)

# Libraries whose INFO lines come per request, per scheduler tick or per schema check; plugins add their SDKs'.
CHATTY = ("apscheduler", "alembic", "httpx", "httpcore", "urllib3")


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@contextmanager
def about_case(number: str | None) -> Iterator[None]:
    """Lines logged inside name case ``number``."""
    token = _case.set(number or None)
    try:
        yield
    finally:
        _case.reset(token)


def carried(fn: Callable[[], T]) -> Callable[[], T]:
    """``fn`` to run on another thread with this thread's case (a thread pool does not carry context variables)."""
    context = copy_context()
    return lambda: context.run(fn)


def _case_of(record: logging.LogRecord) -> str | None:
    return getattr(record, "case", None)


_make_record = logging.getLogRecordFactory()


def _record_with_case(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _make_record(*args, **kwargs)
    record.case = _case.get()
    return record


# Stamped when the record is made, on the thread that logs: any handler (a queue's, a test's) reads the right case.
logging.setLogRecordFactory(_record_with_case)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(about)s%(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        case = _case_of(record)
        record.about = f"case {case}: " if case else ""
        # A case's subject or a person's name is someone else's text: it must not start a line of its own.
        record.message = record.message.replace("\r", "\\r").replace("\n", "\\n")
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, case (when known), message, error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if case := _case_of(record):
            line["case"] = case
        line["message"] = record.getMessage()
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(level: str, fmt: LogFormat, quiet: Iterable[str] = ()) -> None:
    """The root logger writes to stderr at ``level`` in ``fmt``; chatty libraries only from WARNING unless debugging."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == LogFormat.JSON else TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    root = logging.getLogger().level
    floor = logging.NOTSET if root <= logging.DEBUG else max(logging.WARNING, root)  # NOTSET: the root's level
    for chatty in (*CHATTY, *quiet):
        logging.getLogger(chatty).setLevel(floor)
