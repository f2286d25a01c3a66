"""Short-lived signed links to the files CaseRoom keeps for the callbacks, and the route that serves them.

``GET /callbacks/files/{id}?expires=<unix>&signature=<hex HMAC-SHA256(secret, "file.{id}.{expires}")>``: a link is
minted when its event is sent and works until ``expires``; it names one file, so a link cannot be turned into
another. Served as a download (never rendered on CaseRoom's origin): the transcript is HTML written by strangers.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from bot import web_responses
from bot.db import Database
from bot.models import StoredFile

PATH = "/callbacks/files"


def _signature(secret: str, file_id: int, expires: int) -> str:
    return hmac.new(secret.encode(), f"file.{file_id}.{expires}".encode(), hashlib.sha256).hexdigest()


def mint(public_url: str, secret: str, file_id: int, expires: int) -> str:
    return f"{public_url}{PATH}/{file_id}?expires={expires}&signature={_signature(secret, file_id, expires)}"


def router(db: Database, secret: str) -> APIRouter:
    r = APIRouter()

    @r.get(PATH + "/{file_id}", include_in_schema=False)
    def download(file_id: int, expires: int = 0, signature: str = "") -> Response:
        if not hmac.compare_digest(_signature(secret, file_id, expires), signature):
            return JSONResponse({"error": "this link is not one CaseRoom signed"}, status_code=403)
        if expires < time.time():
            return JSONResponse({"error": "this link has expired; the event's next delivery carries a fresh one"},
                                status_code=410)  # fmt: skip
        with db.session() as s:
            found = s.get(StoredFile, file_id)
        if found is None:
            return JSONResponse({"error": "CaseRoom no longer keeps this file (its keeping time ended)"},
                                status_code=410)  # fmt: skip
        return web_responses.download(found.content, found.name, found.mime)

    return r
