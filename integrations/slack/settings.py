"""The Slack plugin's settings: ``SLACK_*``."""

from __future__ import annotations

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from bot.config import HttpBase, PluginSettings
from integrations.pacing import RateLimits


class SlackSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="SLACK_", env_file=None, extra="ignore")
    switch_on = ("bot_token", "signing_secret")

    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    api_url: HttpBase = "https://slack.com/api/"
    channel_template: str = "case-{number}"
    private_channels: bool = True
    external_limited: bool = True
    # Client-side pacing per process (integrations/pacing.py); unset, the floors of Slack's published tiers.
    rate_limits: RateLimits | None = None

    @property
    def configured(self) -> bool:
        return self.bot_token is not None

    @model_validator(mode="after")
    def _pair(self) -> SlackSettings:
        if self.bot_token and not self.signing_secret:
            raise ValueError("SLACK_SIGNING_SECRET is required with SLACK_BOT_TOKEN")
        return self
