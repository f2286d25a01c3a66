"""The Zendesk plugin's settings: ``ZENDESK_*``."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from bot.config import PluginSettings


class ZendeskSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="ZENDESK_", env_file=None, extra="ignore")
    switch_on = ("url",)

    # The account's own URL (https://acme.zendesk.com), or the sandbox's emulator.
    url: str | None = None
    # An API token of the agent CaseRoom acts as (Admin Center > Apps and integrations > Zendesk API), or OAuth.
    email: str | None = None
    api_token: SecretStr | None = None
    oauth_token: SecretStr | None = None
    # The signing secret of the webhook `caseroom zendesk setup` creates (it prints it); unset, webhooks are refused.
    webhook_secret: SecretStr | None = None
    # A signed webhook older than this is refused as replayed (Zendesk retries within minutes).
    webhook_tolerance_seconds: int = Field(300, ge=30, le=3600)
    # The ticket field holding the room URL (its id; `caseroom zendesk setup` creates it and prints the id).
    room_url_field_id: int | None = None
    # Webhooks can be lost (an endpoint down longer than Zendesk retries): a sweep over the incremental export.
    reconcile_seconds: int = Field(300, ge=10)

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = urlsplit(v)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as https://acme.zendesk.com")
        if parts.path.strip("/"):
            raise ValueError("must be the account's URL without a path, such as https://acme.zendesk.com")
        return f"{parts.scheme}://{parts.netloc}"

    @model_validator(mode="after")
    def _credentials(self) -> ZendeskSettings:
        if self.url and not self.oauth_token and not (self.email and self.api_token):
            raise ValueError("ZENDESK_EMAIL with ZENDESK_API_TOKEN, or ZENDESK_OAUTH_TOKEN, is required with "
                             "ZENDESK_URL")  # fmt: skip
        return self
