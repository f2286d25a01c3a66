"""The generic webhook's callback settings: ``CASEROOM_CALLBACK_*``."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from bot.config import PluginSettings


class CallbackSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="CASEROOM_CALLBACK_", env_file=None, extra="ignore")
    switch_on = ("url", "secret")

    url: str | None = None  # where the events are POSTed: the CRM's automation endpoint
    # Signs every event; the receiver's own, not the inbound webhook's (a leaked one cannot forge the other way).
    secret: SecretStr | None = None
    # A file or transcript up to this size travels inside its event as well as behind its link (0: links only).
    inline_bytes: int = Field(65536, ge=0, le=4 * 1024 * 1024)
    link_seconds: int = Field(86400, ge=60, le=7 * 86400)  # how long a download link works after its event is sent
    keep_days: int = Field(14, ge=1)  # how long after its case closes CaseRoom keeps a file it links to
    relay_seconds: int = Field(5, ge=1)  # how often the room's activity (joins, leaves, ...) becomes events
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return v

    @model_validator(mode="after")
    def _pair(self) -> CallbackSettings:
        if self.url and (self.secret is None or len(self.secret.get_secret_value()) < 16):
            raise ValueError("CASEROOM_CALLBACK_SECRET (at least 16 characters) is required with CASEROOM_CALLBACK_URL")
        return self
