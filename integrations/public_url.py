"""Where a platform's or CRM's webhooks reach CaseRoom: the public URL an admin gives, checked, plus a route."""

from __future__ import annotations

from urllib.parse import urlsplit


class NotAWebhookTarget(ValueError):
    pass


def webhook_target(public_url: str, path: str, system: str, *, allow_http: bool) -> str:
    """``public_url`` (an http(s) URL with a host; https unless ``allow_http``) with ``path`` appended."""
    parts = urlsplit(public_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise NotAWebhookTarget(f"--public-url {public_url!r} is not an http(s) URL with a host, such as "
                                "https://caseroom.example.com")  # fmt: skip
    if parts.scheme == "http" and not allow_http:
        raise NotAWebhookTarget(f"--public-url {public_url} is not https: {system} would send every event and "
                                "its signature unencrypted; use https://, or pass --allow-http for a local test")
    return public_url.rstrip("/") + path
