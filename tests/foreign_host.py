"""A host that is not the platform: it records every request it gets, and can serve bytes or redirect."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from caseroom_sandbox.server import ServerThread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route


@dataclass
class Host:
    url: str = ""
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization header)
    redirect_to: str | None = None  # where every request is sent on (302)
    body: bytes = b"bytes from elsewhere"
    media_type: str = "application/octet-stream"

    def authorizations(self) -> list[str | None]:
        return [auth for _, auth in self.seen]


@contextmanager
def foreign_host() -> Iterator[Host]:
    host = Host()

    async def anything(request: Request) -> Response:
        host.seen.append((request.url.path, request.headers.get("authorization")))
        if host.redirect_to:
            return RedirectResponse(host.redirect_to, status_code=302)
        return Response(host.body, media_type=host.media_type,
                        headers={"Content-Disposition": 'attachment; filename="elsewhere.bin"'})  # fmt: skip

    server = ServerThread(Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])).start()
    host.url = server.url
    try:
        yield host
    finally:
        server.stop()
