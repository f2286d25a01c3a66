"""Who may see the dashboard: an admin token typed into a login form, or a reverse proxy's user header.

* Token login sets a session cookie ``v1:<issued>:<nonce>:<mac>``, HMAC-SHA256 under a key derived from the
  token (so rotating the token signs everyone out), HttpOnly, SameSite=Strict, Secure on https. Its path is /
  so admin-only routes outside /admin (the transcript) can check it with :func:`bot.dashboard.admin_gate`.
* ``CASEROOM_ADMIN_HEADER`` names a header an authenticating proxy sets (e.g. X-Forwarded-User). It is trusted
  only when configured, because anyone can send that header straight to the service otherwise.
* Wrong tokens in a row slow the client down (``brake.py``): 429 with ``Retry-After`` until its wait is over.
* Every POST carries a CSRF token: for a session, a MAC of its nonce; behind the proxy (where the browser
  sends credentials on its own), a random double-submit cookie, which needs no secret shared by replicas.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from bot.config import Settings
from bot.dashboard import render
from bot.dashboard.brake import SignInBrake
from bot.dashboard.render import Html

COOKIE = "caseroom_admin"
CSRF_COOKIE = "caseroom_csrf"
SESSION_SECONDS = 12 * 3600
NOT_CONFIGURED = (
    "The dashboard is switched off: no admin is configured. Set CASEROOM_ADMIN_TOKEN (at least 16 characters) "
    "to sign in with a token, or CASEROOM_ADMIN_HEADER (e.g. X-Forwarded-User) when an authenticating reverse "
    "proxy sits in front of CaseRoom, and restart."
)


@dataclass(frozen=True)
class Admin:
    user: str
    csrf: str
    via: str  # "token" or "header"
    new_csrf_cookie: bool = False


class DashboardAuth:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        token = settings.admin_token.get_secret_value() if settings.admin_token else None
        self.token = token
        self.header = settings.admin_header
        self.key = hmac.new(token.encode(), b"caseroom dashboard session v1", hashlib.sha256).digest() if token else b""
        self.public_https = settings.public_url.startswith("https://")
        self.public_origin = _origin(settings.public_url)
        self.clock = clock
        self.brake = SignInBrake(clock)

    @property
    def configured(self) -> bool:
        return bool(self.token or self.header)

    def secure(self, request: Request) -> bool:
        """Secure cookies on https, including https ended at a proxy in front of the public URL."""
        behind_tls_proxy = self.public_https and _origin(str(request.base_url)).split("://")[1] == (
            self.public_origin.split("://")[1]
        )
        return request.url.scheme == "https" or behind_tls_proxy

    def _mac(self, message: str) -> str:
        return hmac.new(self.key, message.encode(), hashlib.sha256).hexdigest()

    def check_token(self, candidate: str) -> bool:
        return bool(self.token) and hmac.compare_digest(candidate.encode(), (self.token or "").encode())

    def new_session(self) -> str:
        payload = f"v1:{int(self.clock())}:{secrets.token_urlsafe(16)}"
        return f"{payload}:{self._mac(payload)}"

    def _session(self, value: str | None) -> Admin | None:
        if not value or not self.token:
            return None
        payload, _, mac = value.rpartition(":")
        parts = payload.split(":")
        if len(parts) != 3 or parts[0] != "v1" or not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            issued = int(parts[1])
        except ValueError:
            return None
        if not 0 <= self.clock() - issued <= SESSION_SECONDS:
            return None
        return Admin("admin", self._mac(f"csrf:{parts[2]}"), "token")

    def admin(self, request: Request) -> Admin | None:
        if self.header:
            user = request.headers.get(self.header, "").strip()
            if user:
                token = request.cookies.get(CSRF_COOKIE, "")
                if len(token) < 20:
                    return Admin(user[:200], secrets.token_urlsafe(24), "header", new_csrf_cookie=True)
                return Admin(user[:200], token, "header")
        return self._session(request.cookies.get(COOKIE))

    def same_origin(self, request: Request) -> bool:
        """A POST from a page of ours: no Origin (older browsers) or the service's own origin."""
        origin = request.headers.get("origin")
        if not origin:
            return True
        return origin in {self.public_origin, _origin(str(request.base_url))}

    def csrf_ok(self, request: Request, admin: Admin, submitted: str) -> bool:
        if admin.new_csrf_cookie or not submitted or not self.same_origin(request):
            return False
        return hmac.compare_digest(submitted.encode(), admin.csrf.encode())

    def finish(self, request: Request, admin: Admin, response: Response) -> Response:
        """Hand a proxy-authenticated browser its CSRF cookie the first time it shows up."""
        if admin.new_csrf_cookie:
            response.set_cookie(CSRF_COOKIE, admin.csrf, path="/admin", httponly=True, samesite="strict",
                                secure=self.secure(request))  # fmt: skip
        return response

    def gate(self, request: Request) -> Admin | Response:
        """The signed-in admin, or the answer to give instead (off, or please sign in)."""
        if not self.configured:
            return render.page("Dashboard off", render.tag("p", NOT_CONFIGURED), status=404)
        admin = self.admin(request)
        if admin is not None:
            return admin
        if request.method != "GET":
            return render.page("Signed out", render.tag("p", "Your session ended; sign in again."), status=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/admin/login?next={quote(target, safe='')}", status_code=303)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def safe_next(target: str | None) -> str:
    # Only our own pages: never "//evil.example" or "https://..." (an open redirect after login).
    if target and target.startswith("/admin") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin"


def router(auth: DashboardAuth) -> APIRouter:
    r = APIRouter(tags=["dashboard"])

    def login_page(next_: str, status: int = 200, error: str | None = None) -> Response:
        if not auth.configured:
            return render.page("Dashboard off", render.tag("p", NOT_CONFIGURED), status=404)
        if not auth.token:
            msg = f"Sign in through the proxy in front of CaseRoom (it sets {auth.header})."
            return render.page("Sign in", render.tag("p", msg), status=401 if error else status)
        fields = render.join(
            [
                render.field("Admin token", "token", type_="password", required=True),
                render.hidden("next", safe_next(next_)),
            ]
        )
        form = Html(
            f'<form method="post" action="/admin/login" class="card">{fields}'
            '<button type="submit">Sign in</button></form>'
        )
        note = render.tag("p", "The token is CASEROOM_ADMIN_TOKEN from the service's configuration.", class_="muted")
        return render.page("Sign in", render.join([form, note]), status=status, flash=error, flash_error=True)

    @r.get("/admin/login")
    def login_form(next: str = "/admin") -> Response:
        return login_page(next)

    @r.post("/admin/login")
    def login(request: Request, token: str = Form(""), next: str = Form("/admin")) -> Response:
        if not auth.same_origin(request):
            return render.page("Refused", render.tag("p", "Sign-in from another site was refused."), status=403)
        client = request.client.host if request.client else "unknown"
        wait = auth.brake.wait_left(client)
        if wait:
            # Checked before the token, so a guess during the wait learns nothing, not even a right one.
            refused = login_page(next, status=429, error=f"Too many wrong tokens from your address: try again in "
                                 f"{wait} s.")  # fmt: skip
            refused.headers["Retry-After"] = str(wait)
            return refused
        if not auth.token or not auth.check_token(token):
            earned = auth.brake.failed(client)
            later = f" Wait {earned} s before the next try." if earned else ""
            return login_page(next, status=401, error=f"That token is not right.{later}")
        auth.brake.succeeded(client)
        response = RedirectResponse(safe_next(next), status_code=303)
        response.set_cookie(COOKIE, auth.new_session(), max_age=SESSION_SECONDS, path="/", httponly=True,
                            samesite="strict", secure=auth.secure(request))  # fmt: skip
        return response

    @r.post("/admin/logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        admin = auth.gate(request)
        if isinstance(admin, Response):
            return admin
        if not auth.csrf_ok(request, admin, csrf):
            return render.page("Refused", render.tag("p", "The form was stale; go back and try again."), status=403)
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=auth.secure(request))
        return response

    return r
