"""Responses a person's browser gets outside the dashboard: a short page saying what happened, and a file as a
download (never rendered on CaseRoom's origin: what people share is written by strangers)."""

from __future__ import annotations

import html
from urllib.parse import quote

from fastapi import Response
from fastapi.responses import HTMLResponse


def page(status: int, title: str, message: str, retry: int | None = None) -> HTMLResponse:
    body = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<meta name='viewport' content='width=device-width'></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(message)}</p></body></html>"
    )
    headers = {"Retry-After": str(retry)} if retry else None
    return HTMLResponse(body, status_code=status, headers=headers)


def download(content: bytes, name: str, mime: str | None) -> Response:
    return Response(
        content,
        media_type=mime or "application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Cache-Control": "private, no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
