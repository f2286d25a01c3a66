"""The admin dashboard under ``/admin``: rooms, cases, dead letters, integration health, figures, and the pages
other installed distributions add (``extensions.py``: the sandbox's, for one).

Server-rendered HTML behind a sign-in (see ``auth.py``); ``/healthz``, ``/metrics`` and the webhooks stay public.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response

from bot.dashboard import auth, ops, pages
from bot.dashboard.context import Dash, auth_for
from bot.services import Services


def router(sv: Services) -> APIRouter:
    d = Dash.build(sv)
    r = APIRouter()
    for part in (auth.router(d.auth), pages.router(d), ops.router(d), *(p.router(d) for p in d.parts)):
        r.include_router(part)
    return r


def admin_gate(sv: Services) -> Callable[[Request], Response | None]:
    """The dashboard's sign-in for a route outside ``/admin``: call it with the request; ``None`` means go on,
    anything else is the response to send instead (dashboard off, or a redirect to sign in)."""
    auth_ = auth_for(sv)

    def check(request: Request) -> Response | None:
        found = auth_.gate(request)
        return found if isinstance(found, Response) else None

    return check
