"""Typed settings read from the environment, validated once at start.

The environment variable names are a public contract (README, "Configuration"). Secrets are
``SecretStr`` so they never appear in logs, reprs or pages.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from integrations.salesforce import ids


class ConfigError(Exception):
    """Settings are missing or wrong; the message names each variable and what is wrong with it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    # Core
    database_url: str = Field("sqlite:///./caseroom.db", alias="CASEROOM_DATABASE_URL")
    public_url: str = Field("http://127.0.0.1:8000", alias="CASEROOM_PUBLIC_URL")
    default_platform: Literal["webex", "slack"] = Field("webex", alias="CASEROOM_DEFAULT_PLATFORM")
    crm_webhook_secret: SecretStr | None = Field(None, alias="CASEROOM_CRM_WEBHOOK_SECRET")
    sandbox: bool | None = Field(None, alias="CASEROOM_SANDBOX")  # None: on when no credentials are set
    workers: int = Field(2, ge=0, le=64, alias="CASEROOM_WORKERS")
    # Independent platform calls of one step sent at once (opening: invitations, URL write-back, room
    # dressing). 1 makes them strictly sequential, in a fixed order.
    parallel_calls: int = Field(4, ge=1, le=16, alias="CASEROOM_PARALLEL_CALLS")
    job_max_attempts: int = Field(8, ge=1, le=100, alias="CASEROOM_JOB_MAX_ATTEMPTS")
    job_lease_seconds: float = Field(120.0, gt=0, alias="CASEROOM_JOB_LEASE_SECONDS")
    job_backoff_base_seconds: float = Field(2.0, ge=0, alias="CASEROOM_JOB_BACKOFF_BASE_SECONDS")
    job_backoff_max_seconds: float = Field(900.0, gt=0, alias="CASEROOM_JOB_BACKOFF_MAX_SECONDS")
    max_body_bytes: int = Field(1024 * 1024, gt=0, alias="CASEROOM_MAX_BODY_BYTES")
    webhook_tolerance_seconds: int = Field(300, gt=0, alias="CASEROOM_WEBHOOK_TOLERANCE_SECONDS")
    keep_previous_engineer: bool = Field(True, alias="CASEROOM_KEEP_PREVIOUS_ENGINEER")
    partner_domains_raw: str = Field("", alias="CASEROOM_PARTNER_DOMAINS")  # customers may invite these too
    admin_token: SecretStr | None = Field(None, alias="CASEROOM_ADMIN_TOKEN")  # dashboard login
    admin_header: str | None = Field(None, alias="CASEROOM_ADMIN_HEADER")  # set by an authenticating proxy
    shifts_file: str | None = Field(None, alias="CASEROOM_SHIFTS_FILE")  # follow-the-sun rota (shifts.toml)
    # Which case priorities follow the sun ("*": every case); Salesforce's own scale is Critical/High/Medium/Low.
    follow_the_sun_raw: str = Field("P1,P2,Critical,High", alias="CASEROOM_FOLLOW_THE_SUN_PRIORITIES")

    # Webex
    webex_access_token: SecretStr | None = Field(None, alias="WEBEX_ACCESS_TOKEN")
    webex_base_url: str = Field("https://webexapis.com/v1/", alias="WEBEX_BASE_URL")
    webex_webhook_secret: SecretStr | None = Field(None, alias="WEBEX_WEBHOOK_SECRET")
    webex_observer_token: SecretStr | None = Field(None, alias="WEBEX_OBSERVER_TOKEN")
    webex_space_link: str = Field("webexteams://im?space={uuid}", alias="WEBEX_SPACE_LINK")

    # Slack
    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    slack_channel_template: str = Field("case-{number}", alias="SLACK_CHANNEL_TEMPLATE")
    slack_private_channels: bool = Field(True, alias="SLACK_PRIVATE_CHANNELS")
    slack_external_limited: bool = Field(True, alias="SLACK_EXTERNAL_LIMITED")
    # Client-side pacing, per process (see integrations/pacing.py). Slack's default is its published tiers'
    # floors; Webex publishes no per-method limits, so it only backs off after a 429 unless told.
    slack_rate_limits: str | None = Field(None, alias="SLACK_RATE_LIMITS")
    webex_rate_limits: str = Field("", alias="WEBEX_RATE_LIMITS")

    # Salesforce
    salesforce_instance_url: str | None = Field(None, alias="SALESFORCE_INSTANCE_URL")
    salesforce_access_token: SecretStr | None = Field(None, alias="SALESFORCE_ACCESS_TOKEN")
    salesforce_username: str | None = Field(None, alias="SALESFORCE_USERNAME")
    salesforce_password: SecretStr | None = Field(None, alias="SALESFORCE_PASSWORD")
    salesforce_security_token: SecretStr | None = Field(None, alias="SALESFORCE_SECURITY_TOKEN")
    salesforce_consumer_key: str | None = Field(None, alias="SALESFORCE_CONSUMER_KEY")
    salesforce_private_key_file: str | None = Field(None, alias="SALESFORCE_PRIVATE_KEY_FILE")
    salesforce_org_id: str | None = Field(None, alias="SALESFORCE_ORG_ID")
    salesforce_api_version: str = Field("59.0", alias="SALESFORCE_API_VERSION")
    salesforce_room_url_field: str = Field("Room_URL__c", alias="SALESFORCE_ROOM_URL_FIELD")
    # Where password and JWT logins get a token (test.salesforce.com for sandboxes; the instance for the emulator).
    salesforce_login_url: str = Field("https://login.salesforce.com", alias="SALESFORCE_LOGIN_URL")
    salesforce_consumer_secret: SecretStr | None = Field(None, alias="SALESFORCE_CONSUMER_SECRET")
    # Outbound Messages are dropped after 24 h: a sweep re-reads what changed since its last run.
    salesforce_reconcile_seconds: int = Field(300, ge=10, alias="SALESFORCE_RECONCILE_SECONDS")
    # LastModifiedDate is stamped when a save starts, so a long save commits behind the sweep's watermark: each
    # sweep re-reads this far behind it (re-reading is idempotent). At least 1 s: the stamp has second precision.
    salesforce_reconcile_overlap_seconds: int = Field(600, ge=1, le=86400, alias="SALESFORCE_RECONCILE_OVERLAP_SECONDS")
    # Joins, leaves and uploads reach the case as one FeedItem per case per interval (0 = never).
    salesforce_digest_seconds: int = Field(300, ge=0, alias="SALESFORCE_DIGEST_SECONDS")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, v: str) -> str:
        if not v.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return v

    @field_validator("webex_base_url", "slack_api_url")
    @classmethod
    def _trailing_slash(cls, v: str) -> str:
        # Both SDKs urljoin method paths onto the base: without the slash the last segment is lost.
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return v if v.endswith("/") else v + "/"

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, the address the platforms reach this service at")
        return v.rstrip("/")

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, v: SecretStr | None) -> SecretStr | None:
        # The token is the dashboard's only password and the key of its session cookies: no short ones.
        if v is not None and len(v.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters; `openssl rand -base64 32` makes a good one")
        return v

    @field_validator("admin_header")
    @classmethod
    def _admin_header(cls, v: str | None) -> str | None:
        if v is not None and v.strip() and not re.fullmatch(r"[A-Za-z0-9-]+", v.strip()):
            raise ValueError("must be an HTTP header name, e.g. X-Forwarded-User")
        return (v.strip() or None) if v is not None else None

    @field_validator("shifts_file")
    @classmethod
    def _shifts_file(cls, v: str | None) -> str | None:
        # Read once here so that a wrong rota stops the start instead of dead-lettering the first handoff.
        from bot.shifts.rota import RotaError, load

        if v is None or not v.strip():
            return None
        try:
            load(v.strip())
        except RotaError as exc:
            raise ValueError(str(exc)) from None
        return v.strip()

    @field_validator("slack_rate_limits", "webex_rate_limits")
    @classmethod
    def _rates(cls, v: str | None) -> str | None:
        from integrations.pacing import parse

        if v:
            parse(v)  # raises ValueError with the offending part
        return v

    @field_validator("salesforce_org_id")
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
    def _pairs(self) -> Settings:
        if self.slack_bot_token and not self.slack_signing_secret:
            raise ValueError("SLACK_SIGNING_SECRET is required with SLACK_BOT_TOKEN")
        if self.salesforce_instance_url and not self.salesforce_org_id:
            raise ValueError("SALESFORCE_ORG_ID is required with SALESFORCE_INSTANCE_URL")
        return self

    @property
    def partner_domains(self) -> set[str]:
        return {d.strip().lower().lstrip("@") for d in self.partner_domains_raw.split(",") if d.strip()}

    @property
    def follow_the_sun_priorities(self) -> set[str] | None:
        """Case priorities that follow the sun; ``None`` means every priority."""
        words = {p.strip().lower() for p in self.follow_the_sun_raw.split(",") if p.strip()}
        return None if "*" in words else words

    @cached_property
    def has_credentials(self) -> bool:
        return bool(self.webex_access_token or self.slack_bot_token or self.salesforce_instance_url)

    @property
    def sandbox_mode(self) -> bool:
        return self.sandbox if self.sandbox is not None else not self.has_credentials

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgres")

    @property
    def ca_bundle(self) -> str | None:
        """The CA bundle every outbound client trusts (``REQUESTS_CA_BUNDLE``), read when needed."""
        return os.environ.get("REQUESTS_CA_BUNDLE") or None


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise :class:`ConfigError` naming every bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            field = Settings.model_fields.get(where)
            name = field.alias if field and field.alias else where
            problems.append(f"  {name}: {err['msg']}")
        raise ConfigError("invalid configuration:\n" + "\n".join(problems)) from None
