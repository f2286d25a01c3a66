"""The Salesforce plugin's settings: ``SALESFORCE_*``."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from bot.config import PluginSettings
from integrations.salesforce import ids


class SalesforceSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="SALESFORCE_", env_file=None, extra="ignore")
    switch_on = ("instance_url", "org_id")

    instance_url: str | None = None
    access_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    private_key_file: str | None = None
    org_id: str | None = None
    api_version: str = "59.0"
    room_url_field: str = "Room_URL__c"
    # Where password and JWT logins get a token (test.salesforce.com for sandboxes; the instance for the emulator).
    login_url: str = "https://login.salesforce.com"
    # Outbound Messages are dropped after 24 h: a sweep re-reads what changed since its last run.
    reconcile_seconds: int = Field(300, ge=10)
    # LastModifiedDate is stamped when a save starts, so a long save commits behind the sweep's watermark: each
    # sweep re-reads this far behind it (re-reading is idempotent). At least 1 s: the stamp has second precision.
    reconcile_overlap_seconds: int = Field(600, ge=1, le=86400)
    # Joins, leaves and uploads reach the case as one FeedItem per case per interval (0 = never).
    digest_seconds: int = Field(300, ge=0)

    @property
    def configured(self) -> bool:
        return bool(self.instance_url)

    @field_validator("org_id")
    @classmethod
    def _org_id(cls, v: str | None) -> str | None:
        if v is not None and (len(v) not in (15, 18) or not v.startswith("00D")):
            raise ValueError("must be a 15- or 18-character organization id starting with 00D")
        if v is not None and ids.canonical(v) is None:
            expected = ids.case_safe(v[:15])
            raise ValueError(f"is not a valid organization id: its last three characters are not the case-safe "
                             f"suffix of its first 15 (that would be {expected}); copy it again")  # fmt: skip
        return v

    @model_validator(mode="after")
    def _pair(self) -> SalesforceSettings:
        if self.instance_url and not self.org_id:
            raise ValueError("SALESFORCE_ORG_ID is required with SALESFORCE_INSTANCE_URL")
        return self
