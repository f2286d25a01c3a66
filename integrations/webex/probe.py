"""``caseroom check-config --online`` for Webex: whose are the bot's and the observer's tokens?"""

from __future__ import annotations

import requests
from webexpythonsdk import ApiError

from bot.plugins import Verdict
from integrations.webex.client import api
from integrations.webex.settings import WebexSettings

TIMEOUT = 10


def tokens(s: WebexSettings) -> list[Verdict]:
    verdicts = []
    if s.access_token:
        verdicts.append(_me("webex access token", s.access_token.get_secret_value(), s.base_url, want_bot=True))
    if s.observer_token:
        verdicts.append(_me("webex observer token", s.observer_token.get_secret_value(), s.base_url, want_bot=False))
    return verdicts


def _me(subject: str, token: str, base_url: str, *, want_bot: bool) -> Verdict:
    """``GET /people/me`` (https://developer.webex.com/docs/api/v1/people/get-my-own-details)."""
    client = api(token, base_url, timeout=TIMEOUT)
    try:
        me = client.people.me()
    except ApiError as exc:
        return Verdict(subject, False, f"refused by {base_url}: HTTP {exc.status_code} {exc.message or exc.status}")
    except requests.RequestException as exc:
        return Verdict(subject, False, f"cannot reach {base_url}: {_reason(exc)}")
    who = f"{me.displayName} ({(me.emails or ['no e-mail'])[0]})"
    if want_bot and me.type != "bot":
        # A personal access token expires within 12 hours and makes every message that person's.
        return Verdict(subject, False, f"belongs to the {me.type} {who}, not to a bot: create a bot at "
                                       "developer.webex.com and use its token")  # fmt: skip
    if not want_bot and me.type == "bot":
        return Verdict(subject, False, f"belongs to the bot {who}: the observer must be a person or machine account "
                                       "(a bot sees only messages that mention it)")  # fmt: skip
    return Verdict(subject, True, f"{me.type} {who}")


def _reason(exc: requests.RequestException) -> str:
    """The socket's own words (``[Errno 111] Connection refused``), not urllib3's retry wrapper around them."""
    cause = exc.args[0] if exc.args else exc
    text = str(getattr(cause, "reason", None) or cause)
    return text.split(">: ", 1)[-1]  # "<urllib3.connection.HTTPConnection object at 0x..>: Failed to ..."
