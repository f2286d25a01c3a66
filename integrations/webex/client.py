"""Build the SDK clients from settings. Every request honours ``REQUESTS_CA_BUNDLE`` (requests reads it)."""

from __future__ import annotations

import base64
import binascii

from webexpythonsdk import WebexAPI


def api(token: str, base_url: str, timeout: int = 30) -> WebexAPI:
    # wait_on_rate_limit=False: the SDK would otherwise sleep in the worker thread for as long as Webex
    # asks; we raise instead and the job is rescheduled at Retry-After, freeing the worker.
    return WebexAPI(access_token=token, base_url=base_url, wait_on_rate_limit=False,
                    single_request_timeout=timeout)  # fmt: skip


def uuid_of(webex_id: str) -> str:
    """Webex ids are base64 of ``ciscospark://us/ROOM/<uuid>``; deep links want the uuid."""
    try:
        decoded = base64.urlsafe_b64decode(webex_id + "=" * (-len(webex_id) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return webex_id
    return decoded.rsplit("/", 1)[-1] if decoded.startswith("ciscospark://") else webex_id
