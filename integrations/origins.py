"""Credentials go only to their own system's origins.

A bot token is a key to every room the bot is in, so it is sent only to the origins that issued it (scheme, host
and port, as browsers compare them). A link to anywhere else (a file "hosted" on another server, a redirect to
a CDN) is either refused before any request is made, or followed without the credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 5


def origin(url: str) -> str:
    """``scheme://host[:port]``, lower-cased, default port left out; ``""`` for what is not an http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host:
        return ""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{shown}:{port}"


class Origins:
    """The origins one system's credentials may be sent to."""

    def __init__(self, urls: Iterable[str]) -> None:
        self.allowed = frozenset(o for o in (origin(u) for u in urls) if o)

    def __contains__(self, url: object) -> bool:
        return isinstance(url, str) and origin(url) in self.allowed

    def __repr__(self) -> str:
        return f"Origins({sorted(self.allowed)})"


class ForeignOrigin(Exception):
    """A URL this system's credentials must not be sent to; nothing was fetched."""

    def __init__(self, url: str, system: str) -> None:
        self.url, self.system = url, system
        where = origin(url) or "a link that is not http(s)"
        super().__init__(f"it is on {where}, not on {system}, and CaseRoom fetches files only from {system}")


def get(session: requests.Session, url: str, *, allowed: Origins, system: str,
        credentials: Mapping[str, str] | None = None, **kwargs: Any) -> requests.Response:  # fmt: skip
    """GET ``url`` with ``credentials`` (headers) only while on ``allowed`` origins; follows redirects itself.

    ``url`` itself must be on an allowed origin (else :class:`ForeignOrigin`, before any request). A redirect
    to another origin is followed without the credentials, and the session's own ``Authorization`` header
    (the Webex SDK keeps its token there) is removed for that hop.
    """
    if url not in allowed:
        log.warning("refused to fetch %s with %s credentials: not one of %s", origin(url) or url, system, allowed)
        raise ForeignOrigin(url, system)
    stripped = {name: None for name in {"Authorization", *(credentials or {})}}
    for _ in range(MAX_REDIRECTS + 1):
        own = url in allowed
        headers = dict(credentials or {}) if own else stripped
        resp = session.get(url, headers=headers, allow_redirects=False, **kwargs)
        if not resp.is_redirect:
            return resp
        target = urljoin(url, resp.headers["Location"])
        resp.close()
        if origin(target) == "":
            raise ForeignOrigin(target, system)
        if own and target not in allowed:
            log.info("%s redirected %s to %s: following without credentials", system, origin(url), origin(target))
        url = target
    raise requests.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects fetching a {system} file")


class BoundSession(requests.Session):
    """A session that drops its credentials on every redirect that leaves the origin.

    requests already drops ``Authorization`` when the host or port changes, but keeps it across an
    http -> https upgrade; here any change of origin drops it.
    """

    def should_strip_auth(self, old_url: str, new_url: str) -> bool:
        return origin(old_url) != origin(new_url)
