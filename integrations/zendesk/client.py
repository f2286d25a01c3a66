"""A zenpy client pointed at the configured account, with errors translated for the job queue.

zenpy builds every URL as ``https://{subdomain}.{domain}/api/v2/...``. For an account on zendesk.com that is the
configured URL itself; for anything else (the sandbox's emulator, a proxy) the session sends zenpy's requests to
``ZENDESK_URL`` instead, and refuses any other URL, so the credentials reach only the configured origin.

zenpy sleeps through a 429 itself (``Retry-After`` seconds, in the worker's thread); a response hook turns the
429 into :class:`~integrations.crm.TransientCRMError` with ``retry_after`` before zenpy sees it, so the job queue
backs off instead and the worker is free for other cases meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from zenpy import Zenpy
from zenpy.lib.exception import APIException, RecordNotFoundException, ZenpyException

from bot import metrics
from integrations.crm import PermanentCRMError, TransientCRMError
from integrations.failures import retry_after_seconds
from integrations.origins import BoundSession, ForeignOrigin, Origins
from integrations.zendesk.settings import ZendeskSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
TIMEOUT = (10, 60)  # connect, read
CLOUD_DOMAIN = "zendesk.com"
# zenpy's URLs for an account elsewhere: a reserved name (RFC 2606) that can never resolve if a request slipped
# past the session's rewriting.
ELSEWHERE = ("caseroom", "zendesk.invalid")
RATE_LIMIT_BACKOFF = 60.0  # a 429 without Retry-After


class NotFound(PermanentCRMError):
    """The ticket or user does not exist (or the agent cannot see it)."""


class RateLimited(TransientCRMError):
    pass


def account(url: str) -> tuple[str, str]:
    """zenpy's ``(subdomain, domain)`` for the account URL."""
    host = (urlsplit(url).hostname or "").lower()
    sub, _dot, rest = host.partition(".")
    if rest == CLOUD_DOMAIN and urlsplit(url).scheme == "https" and urlsplit(url).port in (None, 443):
        return sub, rest
    return ELSEWHERE


class AccountSession(BoundSession):
    """Sends zenpy's requests to the configured account and nowhere else."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")
        sub, domain = account(base)
        self.built = f"https://{sub}.{domain}"  # the origin zenpy writes into its URLs
        self.allowed = Origins([self.base])
        self.hooks["response"].append(_rate_limited)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        asked = str(url)
        target = self.base + asked[len(self.built):] if asked.startswith(self.built + "/") else asked
        if target not in self.allowed:
            raise ForeignOrigin(target, "Zendesk")
        kwargs.setdefault("timeout", TIMEOUT)
        resp = super().request(method, target, *args, **kwargs)
        if target != asked and resp.request is not None:
            # zenpy picks how to read an answer by the URL it asked for: give it back that URL.
            resp.request.url = asked
        return resp


def _rate_limited(resp: requests.Response, *_: Any, **__: Any) -> None:
    if resp.status_code == 429:
        metrics.RATE_LIMIT_WAITS.labels(system="zendesk").inc()
        wait = retry_after_seconds(resp.headers.get("Retry-After")) or RATE_LIMIT_BACKOFF
        raise RateLimited(f"Zendesk rate limit: {resp.request.method} {urlsplit(resp.url).path}", retry_after=wait)


def client(settings: ZendeskSettings) -> Zenpy:
    """zenpy on an :class:`AccountSession`, its object cache off (a cached ticket is a stale ticket)."""
    if not settings.url:
        raise ValueError("ZENDESK_URL is not set")
    session = AccountSession(settings.url)
    session.verify = settings.ca_bundle or True
    sub, domain = account(settings.url)
    if settings.oauth_token:
        creds: dict[str, Any] = {"oauth_token": settings.oauth_token.get_secret_value()}
    else:
        token = settings.api_token.get_secret_value() if settings.api_token else None
        creds = {"email": settings.email, "token": token}
    return Zenpy(subdomain=sub, domain=domain, session=session, disable_cache=True, **creds)


class Connection:
    """One zenpy client shared by the worker threads (requests' session is thread-safe for this use)."""

    def __init__(self, settings: ZendeskSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._zenpy: Zenpy | None = None

    @property
    def zenpy(self) -> Zenpy:
        with self._lock:
            if self._zenpy is None:
                self._zenpy = client(self.settings)
            return self._zenpy

    def call(self, what: str, fn: Callable[[Zenpy], T]) -> T:
        """Run ``fn(zenpy)`` and map failures to the CRM port's errors."""
        started = time.perf_counter()
        outcome = "error"
        try:
            result = fn(self.zenpy)
            outcome = "ok"
            return result
        except RateLimited:
            outcome = "ratelimited"
            raise
        except RecordNotFoundException as exc:
            raise NotFound(f"Zendesk {what}: not found") from exc
        except APIException as exc:
            status = getattr(exc.response, "status_code", 0) or 0
            if status >= 500:
                raise TransientCRMError(f"Zendesk {what}: HTTP {status}") from exc
            raise PermanentCRMError(f"Zendesk {what}: HTTP {status}: {_message(exc)}") from exc
        except requests.HTTPError as exc:  # zenpy's fallback for an error answer that is not JSON
            status = exc.response.status_code if exc.response is not None else 0
            if status >= 500 or status == 0:
                raise TransientCRMError(f"Zendesk {what}: HTTP {status}") from exc
            raise PermanentCRMError(f"Zendesk {what}: HTTP {status}") from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientCRMError(f"Zendesk {what}: {type(exc).__name__}") from exc
        except ForeignOrigin as exc:
            raise PermanentCRMError(f"Zendesk {what}: refused to send the credentials to {exc.url}") from exc
        except ZenpyException as exc:
            raise PermanentCRMError(f"Zendesk {what}: {exc}"[:500]) from exc
        finally:
            metrics.API_CALLS.labels(system="zendesk", method=what, outcome=outcome).inc()
            metrics.API_SECONDS.labels(system="zendesk").observe(time.perf_counter() - started)


def _message(exc: APIException) -> str:
    """Zendesk's ``{"error": ..., "description": ..., "details": {...}}`` in one line."""
    try:
        body = exc.response.json()
    except (AttributeError, ValueError):
        return str(exc)[:300]
    if not isinstance(body, dict):
        return str(body)[:300]
    error = body.get("error")
    if isinstance(error, dict):  # some endpoints nest it: {"error": {"title", "message"}}
        error = error.get("message") or error.get("title")
    parts = [str(p) for p in (error, body.get("description")) if p]
    details = body.get("details")
    if isinstance(details, dict):
        for field, problems in details.items():
            for p in problems if isinstance(problems, list) else [problems]:
                text = p.get("description") if isinstance(p, dict) else p
                parts.append(f"{field}: {text}")
    return "; ".join(parts)[:500] or str(body)[:300]
