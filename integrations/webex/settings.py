"""The Webex plugin's settings: ``WEBEX_*``."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from bot.config import HttpBase, PluginSettings
from integrations.pacing import RateLimits


class WebexSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="WEBEX_", env_file=None, extra="ignore")
    switch_on = ("access_token",)

    access_token: SecretStr | None = None
    base_url: HttpBase = "https://webexapis.com/v1/"
    webhook_secret: SecretStr | None = None
    observer_token: SecretStr | None = None
    space_link: str = "webexteams://im?space={uuid}"
    # Client-side pacing per process (integrations/pacing.py): Webex publishes no per-method limits, so by
    # default it only backs off after a 429.
    rate_limits: RateLimits = ""

    @property
    def configured(self) -> bool:
        return self.access_token is not None
