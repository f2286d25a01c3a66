"""The route behind the file links in people's mail (see :mod:`bot.mail_files`): a download, or a page saying why
not. Sync, so the platform download runs on the server's thread pool rather than its event loop."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from bot import mail_files, web_responses
from bot.services import Services

log = logging.getLogger(__name__)

TITLES = {404: "No such file", 410: "This link no longer works", 503: "Not ready yet"}


def router(sv: Services) -> APIRouter:
    r = APIRouter()

    @r.get(mail_files.PATH + "/{member_id}/{event_id}/{n}", include_in_schema=False)
    def download(member_id: int, event_id: int, n: int, sig: str = "") -> Response:
        try:
            got = mail_files.fetch(sv, member_id, event_id, n, sig)
        except mail_files.Refused as no:
            log.info("mail file link refused (%s): member %s, entry %s, file %s", no.status, member_id, event_id, n)
            retry = int(no.retry_after) if no.retry_after else None
            return web_responses.page(no.status, TITLES.get(no.status, "No file"), no.message, retry)
        return web_responses.download(got.content, got.name, got.mime)

    return r
