"""``caseroom check-config --online`` for Slack: is the bot token a working bot token of which workspace?"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.plugins import Verdict
from integrations.slack.settings import SlackSettings

SUBJECT = "slack bot token"


def bot_token(s: SlackSettings, client: WebClient) -> Verdict:
    """``auth.test`` (https://api.slack.com/methods/auth.test) answers whose token it is."""
    try:
        who = client.auth_test()
    except SlackApiError as exc:
        return Verdict(SUBJECT, False, f"refused by {s.api_url}: {exc.response.get('error') or exc}")
    except OSError as exc:  # urllib's URLError, timeouts and refused connections
        return Verdict(SUBJECT, False, f"cannot reach {s.api_url}: {getattr(exc, 'reason', None) or exc}")
    if not who.get("bot_id"):
        # A user token (xoxp-) acts as that person: every message and invitation would be theirs.
        return Verdict(SUBJECT, False, f"belongs to the user {who.get('user')}, not to a bot: use the app's "
                                       "Bot User OAuth Token (xoxb-)")  # fmt: skip
    return Verdict(SUBJECT, True, f"bot {who.get('user')} ({who.get('user_id')}) in the workspace "
                                  f"{who.get('team')} ({who.get('team_id')})")  # fmt: skip
