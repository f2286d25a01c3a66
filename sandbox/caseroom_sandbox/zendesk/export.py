"""``GET /api/v2/incremental/tickets/cursor``: the cursor-based incremental ticket export.

A ticket appears once, at the position of its latest save (a ticket saved again moves to the end of the
stream), so a client that follows ``after_cursor`` sees every change exactly once as its latest state.

- ``start_time`` (Unix seconds) or ``cursor``, exactly one. Tickets whose ``generated_timestamp`` is at or after
  ``start_time`` are exported.
- As Zendesk, items saved within the last ``export_lag_s`` (60: "the minute prior to your request") are held
  back until later, and a ``start_time`` inside that window (or in the future) answers 422
  ``Too recent start_time``; tests set the knob to 0.
- ``per_page`` up to 1000 (default: the emulator's ``page_size``); ``after_url`` keeps it.
- ``end_of_stream`` is true when nothing is left up to now. A page from ``start_time`` that found nothing has
  no cursor (null ``after_cursor``); a page from a cursor that found nothing hands the same cursor back.
- ``before_cursor``/``before_url`` page backwards (zenpy's ``reversed()``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from caseroom_sandbox.zendesk.state import Ticket
from caseroom_sandbox.zendesk.tickets import base_of
from caseroom_sandbox.zendesk.view import ticket_json
from caseroom_sandbox.zendesk.wire import ZendeskError, bad_value, decode_cursor, encode_cursor, json_response, now

if TYPE_CHECKING:
    from caseroom_sandbox.zendesk import ZendeskEmulator

MAX_PER_PAGE = 1000


class Export:
    def __init__(self, emu: ZendeskEmulator) -> None:
        self.emu = emu
        self.account = emu.account

    def routes(self) -> list[Route]:
        return [Route("/api/v2/incremental/tickets/cursor", self.tickets, methods=["GET"])]

    def _per_page(self, raw: str | None) -> int:
        if raw is None:
            return min(self.emu.page_size, MAX_PER_PAGE)
        if not raw.isdigit() or int(raw) < 1:
            raise bad_value("per_page must be a positive integer")
        return min(int(raw), MAX_PER_PAGE)

    async def tickets(self, request: Request) -> Response:
        q = request.query_params
        if ("start_time" in q) == ("cursor" in q):
            raise bad_value("Specify either start_time or cursor", status=422)
        per_page = self._per_page(q.get("per_page"))
        lag = self.emu.knobs.export_lag_s
        horizon = time.monotonic() - lag
        with self.account.lock:
            visible = sorted((t for t in self.account.tickets.values() if t.saved_mono <= horizon), key=lambda t: t.seq)
            cursor_in: str | None = None
            if "start_time" in q:
                start = self._start_time(q["start_time"], lag)
                backwards = False
                page, more = self._page([t for t in visible if t.generated_timestamp >= start], per_page)
            else:
                cursor_in = q["cursor"]
                seq, backwards = self._cursor(cursor_in)
                later = [t for t in visible if (t.seq < seq if backwards else t.seq > seq)]
                page, more = self._page(later, per_page, from_end=backwards)
            base = base_of(request)
            rendered = [ticket_json(self.account, t, base) for t in page]
        return json_response(self._answer(request, page, rendered, more, cursor_in, backwards, per_page))

    @staticmethod
    def _page(tickets: list[Ticket], per_page: int, from_end: bool = False) -> tuple[list[Ticket], bool]:
        if from_end:
            return tickets[-per_page:], len(tickets) > per_page
        return tickets[:per_page], len(tickets) > per_page

    @staticmethod
    def _start_time(raw: str, lag: float) -> int:
        if not raw.lstrip("-").isdigit():
            raise bad_value("start_time must be a Unix epoch time in seconds", status=422)
        start = int(raw)
        if start > now().timestamp() - lag:
            minutes = "1 minute" if lag <= 60 else f"{round(lag / 60)} minutes"
            raise bad_value(f"Too recent start_time. Use a start_time older than {minutes}", status=422)
        return max(start, 0)

    @staticmethod
    def _cursor(raw: str) -> tuple[int, bool]:
        parts = decode_cursor(raw)
        if parts is None or not isinstance(parts.get("s"), int) or parts.get("d") not in ("a", "b"):
            raise ZendeskError(400, {"error": "InvalidPaginationParameter", "description": "cursor is invalid"})
        return int(parts["s"]), parts["d"] == "b"

    @staticmethod
    def _answer(
        request: Request, page: list[Ticket], rendered: list[dict[str, Any]], more: bool, cursor_in: str | None,
        backwards: bool, per_page: int,
    ) -> dict[str, Any]:
        after = encode_cursor({"s": page[-1].seq, "t": page[-1].generated_timestamp, "d": "a"}) if page else None
        before = encode_cursor({"s": page[0].seq, "t": page[0].generated_timestamp, "d": "b"}) if page else None
        if after is None and cursor_in is not None and not backwards:
            after = cursor_in  # nothing new yet: resume from the same place next time
        url = request.url.remove_query_params(["start_time", "cursor"])
        if "per_page" in request.query_params:
            url = url.include_query_params(per_page=per_page)

        def link(cursor: str | None) -> str | None:
            return str(url.include_query_params(cursor=cursor)) if cursor else None

        return {"tickets": rendered, "after_url": link(after), "after_cursor": after, "before_url": link(before),
                "before_cursor": before, "end_of_stream": not more}  # fmt: skip
