"""A simple-salesforce connection that logs in, refreshes itself and translates errors for the job queue.

Three ways in, picked by which settings are present: an access token (``SALESFORCE_ACCESS_TOKEN``), the OAuth
username-password flow (``SALESFORCE_USERNAME`` + ``SALESFORCE_PASSWORD`` [+ security token] with a connected
app's key and secret) or the JWT bearer flow (``SALESFORCE_USERNAME`` + ``SALESFORCE_CONSUMER_KEY`` +
``SALESFORCE_PRIVATE_KEY_FILE``). Tokens come from ``SALESFORCE_LOGIN_URL`` ourselves rather than through
simple-salesforce's own login, which hard-codes ``*.salesforce.com`` and so cannot reach a government cloud,
a My Domain login host or the sandbox. Every request honours ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from bot import metrics
from integrations.crm import PermanentCRMError, TransientCRMError
from integrations.origins import BoundSession, origin
from integrations.salesforce.settings import SalesforceSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TIMEOUT = (10, 60)  # connect, read
LIMIT_BACKOFF = 300.0  # the daily allocation is spent: retrying sooner only spends more of the next one


class NotFound(PermanentCRMError):
    """The record does not exist (or the integration user cannot see it)."""


def record_usage(resp: requests.Response, *_: Any, **__: Any) -> None:
    """``Sforce-Limit-Info: api-usage=123/15000`` on every REST answer becomes the usage gauges."""
    info = resp.headers.get("Sforce-Limit-Info", "")
    for part in info.split(","):
        name, _eq, value = part.strip().partition("=")
        used, _slash, limit = value.partition("/")
        if name == "api-usage" and used.isdigit() and limit.isdigit():
            metrics.CRM_API_USAGE.labels(kind="used").set(int(used))
            metrics.CRM_API_USAGE.labels(kind="limit").set(int(limit))


def _session(settings: SalesforceSettings) -> requests.Session:
    session = BoundSession()
    session.verify = settings.ca_bundle or True
    session.hooks["response"].append(record_usage)
    # simple-salesforce passes no timeout; a hung socket must not hold a worker forever.
    session.request = _with_timeout(session.request)  # type: ignore[method-assign]
    return session


def _with_timeout(request: Callable[..., requests.Response]) -> Callable[..., requests.Response]:
    def call(method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return request(method, url, **kwargs)

    return call


class Connection:
    """One logged-in ``Salesforce`` object shared by the worker threads; re-logs in when the session expires."""

    def __init__(self, settings: SalesforceSettings) -> None:
        if not settings.instance_url:
            raise ValueError("SALESFORCE_INSTANCE_URL is not set")
        self.settings = settings
        self.session = _session(settings)
        self._lock = threading.Lock()
        self._sf: Salesforce | None = None
        self._token = settings.access_token.get_secret_value() if settings.access_token else None

    @property
    def can_login(self) -> bool:
        s = self.settings
        password_flow = bool(s.username and s.password and s.consumer_key
                             and s.consumer_secret)  # fmt: skip
        jwt_flow = bool(s.username and s.consumer_key and s.private_key_file)
        return password_flow or jwt_flow

    @property
    def sf(self) -> Salesforce:
        with self._lock:
            if self._sf is None:
                self._sf = self._connect()
            return self._sf

    def _connect(self) -> Salesforce:
        s = self.settings
        instance_url = s.instance_url or ""
        if self._token is None:
            self._token, instance_url = self._login()
        return Salesforce(instance_url=instance_url, session_id=self._token, session=self.session,
                          version=s.api_version)  # fmt: skip

    def _login(self) -> tuple[str, str]:
        s = self.settings
        if not self.can_login:
            raise PermanentCRMError(
                "Salesforce credentials are incomplete: set SALESFORCE_ACCESS_TOKEN, or SALESFORCE_USERNAME with "
                "SALESFORCE_PASSWORD, SALESFORCE_CONSUMER_KEY and SALESFORCE_CONSUMER_SECRET, or SALESFORCE_USERNAME "
                "with SALESFORCE_CONSUMER_KEY and SALESFORCE_PRIVATE_KEY_FILE"
            )
        form: dict[str, str]
        if s.private_key_file:
            form = {"grant_type": JWT_GRANT, "assertion": self._assertion()}
        else:
            assert s.password and s.consumer_secret
            token = s.security_token.get_secret_value() if s.security_token else ""
            form = {
                "grant_type": "password",
                "client_id": s.consumer_key or "",
                "client_secret": s.consumer_secret.get_secret_value(),
                "username": s.username or "",
                "password": s.password.get_secret_value() + token,
            }
        url = s.login_url.rstrip("/") + "/services/oauth2/token"
        try:
            resp = self.session.post(url, data=form)
        except requests.RequestException as exc:
            raise TransientCRMError(f"Salesforce login: {exc}") from exc
        if resp.status_code >= 500:
            raise TransientCRMError(f"Salesforce login: HTTP {resp.status_code}")
        body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
        if resp.status_code != 200 or "access_token" not in body:
            why = body.get("error_description") or body.get("error") or f"HTTP {resp.status_code}"
            raise PermanentCRMError(f"Salesforce login refused: {why}")
        configured = s.instance_url or ""
        answered = str(body.get("instance_url") or configured)
        if origin(answered) != origin(configured):
            # The session is a key to the whole org: it goes to the instance the admin configured, nowhere else.
            raise PermanentCRMError(
                f"Salesforce login answered instance_url {answered}, but SALESFORCE_INSTANCE_URL is {configured}; "
                "CaseRoom sends the session only to the configured instance: set SALESFORCE_INSTANCE_URL to your "
                "org's My Domain URL"
            )
        log.info("logged in to Salesforce as %s", s.username)
        return str(body["access_token"]), answered

    def _assertion(self) -> str:
        import jwt  # PyJWT with cryptography, a dependency of simple-salesforce

        s = self.settings
        key = Path(s.private_key_file or "").read_text()
        audience = s.login_url.rstrip("/")
        if urlparse(audience).hostname in ("login.salesforce.com", "test.salesforce.com"):
            audience = f"https://{urlparse(audience).hostname}"
        claims = {"iss": s.consumer_key, "sub": s.username, "aud": audience,
                  "exp": int(time.time()) + 180}  # fmt: skip
        return str(jwt.encode(claims, key, algorithm="RS256"))

    def _expired(self, stale: Salesforce) -> None:
        with self._lock:
            if self._sf is stale:  # another thread may have refreshed already
                self._sf = None
                self._token = None

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        """Run ``fn(sf)``; refresh an expired session once; map failures to the CRM port's errors."""
        for attempt in (1, 2):
            sf = self.sf
            started = time.perf_counter()
            outcome = "error"
            try:
                result = fn(sf)
                outcome = "ok"
                return result
            except SalesforceExpiredSession as exc:
                if attempt == 1 and self.can_login:
                    log.info("Salesforce session expired; logging in again")
                    self._expired(sf)
                    continue
                raise TransientCRMError(
                    f"Salesforce {what}: session expired and cannot be renewed from the configured credentials "
                    f"(an access token cannot refresh itself): {_message(exc)}", retry_after=60,
                ) from exc  # fmt: skip
            except SalesforceRefusedRequest as exc:
                if _code(exc) == "REQUEST_LIMIT_EXCEEDED":
                    outcome = "ratelimited"
                    metrics.RATE_LIMIT_WAITS.labels(system="salesforce").inc()
                    raise TransientCRMError(f"Salesforce {what}: API limit exceeded",
                                            retry_after=LIMIT_BACKOFF) from exc  # fmt: skip
                raise PermanentCRMError(f"Salesforce {what}: refused: {_message(exc)}") from exc
            except SalesforceResourceNotFound as exc:
                raise NotFound(f"Salesforce {what}: not found: {_message(exc)}") from exc
            except SalesforceMalformedRequest as exc:
                raise PermanentCRMError(f"Salesforce {what}: {_message(exc)}") from exc
            except SalesforceGeneralError as exc:
                if exc.status >= 500:
                    raise TransientCRMError(f"Salesforce {what}: HTTP {exc.status}") from exc
                raise PermanentCRMError(f"Salesforce {what}: HTTP {exc.status}: {_message(exc)}") from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TransientCRMError(f"Salesforce {what}: {type(exc).__name__}") from exc
            finally:
                metrics.API_CALLS.labels(system="salesforce", method=what, outcome=outcome).inc()
                metrics.API_SECONDS.labels(system="salesforce").observe(time.perf_counter() - started)
        raise AssertionError("unreachable")


def _errors(exc: SalesforceError) -> list[dict[str, Any]]:
    content = exc.content
    if isinstance(content, list):
        return [e for e in content if isinstance(e, dict)]
    return [content] if isinstance(content, dict) else []


def _code(exc: SalesforceError) -> str:
    return next((str(e.get("errorCode")) for e in _errors(exc) if e.get("errorCode")), "")


def _message(exc: SalesforceError) -> str:
    found = [f"{e.get('errorCode', '')}: {e.get('message', '')}".strip(": ") for e in _errors(exc)]
    return "; ".join(found) or str(exc.content)[:300]

