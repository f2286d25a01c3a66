"""Typed settings read from the environment, validated once at start.

The environment variable names are a public contract (README, "Configuration"). Secrets are
``SecretStr`` so they never appear in logs, reprs or pages. The core's own variables start with
``CASEROOM_``; each plugin declares its own :class:`PluginSettings` under its own prefix, read from the
same environment and validated with the core's, so one start reports every bad variable at once.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Protocol, TypeVar

from pydantic import AfterValidator, Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.db import absolute_sqlite


class ConfigError(Exception):
    """Settings are missing or wrong; the message names each variable and what is wrong with it."""


def _ca_bundle() -> str | None:
    """The CA bundle every outbound client trusts (``REQUESTS_CA_BUNDLE``), read when needed."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or None


def http_trust() -> ssl.SSLContext | bool:
    """What an httpx client verifies servers with: the CA bundle every outbound client trusts, else the system's."""
    ca_bundle = _ca_bundle()
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True


def http_base(v: str) -> str:
    """Validate an API base URL and give it its trailing slash: SDKs urljoin method paths onto it, and without the
    slash the last segment is lost."""
    if not v.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return v if v.endswith("/") else v + "/"


HttpBase = Annotated[str, AfterValidator(http_base)]  # a settings field holding an API base URL


class PluginSettings(BaseSettings):
    """A plugin's own settings: fields named without the prefix its ``model_config`` gives (``env_prefix``)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")
    # The fields that switch the plugin on, for messages telling an operator what to set.
    switch_on: ClassVar[tuple[str, ...]] = ()
    # Whether configuring the plugin means real systems are wired, so the sandbox stays off unless asked for (a
    # chat platform's or a CRM's credentials do; a mail relay alone does not: the chat still needs emulating).
    ends_sandbox: ClassVar[bool] = True

    @property
    def configured(self) -> bool:
        """Whether these settings switch the plugin on (its credentials are set)."""
        return False

    @property
    def ca_bundle(self) -> str | None:
        return _ca_bundle()

    @classmethod
    def prefix(cls) -> str:
        return str(cls.model_config.get("env_prefix", ""))

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable behind a field."""
        return f"{cls.prefix()}{field}".upper()


S = TypeVar("S", bound=PluginSettings)


class Configurable(Protocol):
    """What settings need of a plugin: its name, its settings model and the chat platform it adds, if any."""

    name: str
    platform: str | None
    settings: type[PluginSettings] | None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)
    # What the settings were built from beyond the environment, for the plugins' sections to read too.
    _given: dict[str, Any] = PrivateAttr(default_factory=dict)
    _sections: dict[type[PluginSettings], PluginSettings] = PrivateAttr(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self._given = dict(values)

    # Core
    database_url: str = Field("sqlite:///./caseroom.db", alias="CASEROOM_DATABASE_URL")
    public_url: str = Field("http://127.0.0.1:8000", alias="CASEROOM_PUBLIC_URL")
    # Where a case goes when its event names no platform; unset, the only configured one (one is required when
    # several are configured).
    default_platform: str | None = Field(None, alias="CASEROOM_DEFAULT_PLATFORM")
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

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, v: str) -> str:
        if not v.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return absolute_sqlite(v)

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

    @property
    def partner_domains(self) -> set[str]:
        return {d.strip().lower().lstrip("@") for d in self.partner_domains_raw.split(",") if d.strip()}

    @property
    def follow_the_sun_priorities(self) -> set[str] | None:
        """Case priorities that follow the sun; ``None`` means every priority."""
        words = {p.strip().lower() for p in self.follow_the_sun_raw.split(",") if p.strip()}
        return None if "*" in words else words

    def section(self, model: type[S]) -> S:
        """A plugin's settings, read from the same environment and overrides as these (once, then kept)."""
        got = self._sections.get(model)
        if got is None:
            prefix = model.prefix().upper()
            given = {k[len(prefix) :].lower(): v for k, v in self._given.items() if k.upper().startswith(prefix)}
            got = self._sections[model] = model(**given)
        return got  # type: ignore[return-value]

    def sections(self) -> list[PluginSettings]:
        """The plugins' settings read so far (at start, every installed plugin's)."""
        return list(self._sections.values())

    @property
    def has_credentials(self) -> bool:
        """Whether any plugin whose settings were read, and whose being configured ends the sandbox, is configured."""
        return any(section.configured and section.ends_sandbox for section in self._sections.values())

    @property
    def sandbox_mode(self) -> bool:
        return self.sandbox if self.sandbox is not None else not self.has_credentials

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgres")

    @property
    def ca_bundle(self) -> str | None:
        return _ca_bundle()


def _problems(exc: ValidationError, name_of: Any, whole: str) -> list[str]:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        problems.append(f"  {name_of(where) if where else whole}: {err['msg']}")
    return problems


def _core_name(where: str) -> str:
    field = Settings.model_fields.get(where)
    return field.alias if field and field.alias else where


def _raw(variable: str, overrides: dict[str, object]) -> str | None:
    """A variable as given, before validation (names are matched without case, as the settings match them)."""
    if variable in overrides:
        return str(overrides[variable])
    return next((v for k, v in os.environ.items() if k.upper() == variable), None)


def load_settings(plugins: Iterable[Configurable] | None = None, **overrides: object) -> Settings:
    """Read and validate the core's settings and every plugin's (the installed ones unless given); raise
    :class:`ConfigError` naming every bad variable."""
    if plugins is None:
        from bot.plugins import discover  # the plugins import this module

        plugins = discover()
    problems: list[str] = []
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems += _problems(exc, _core_name, "settings")
        # Go on, so that the plugins' variables and the platform are judged too.
        settings = Settings.model_construct(default_platform=_raw("CASEROOM_DEFAULT_PLATFORM", overrides))
        settings._given = dict(overrides)
    platforms: list[str] = []
    configured: list[str] = []
    for plugin in plugins:
        if plugin.platform:
            platforms.append(plugin.platform)
        if plugin.settings is None:
            continue
        try:
            if settings.section(plugin.settings).configured and plugin.platform:
                configured.append(plugin.platform)
        except ValidationError as exc:
            problems += _problems(exc, plugin.settings.variable, plugin.name)
    chosen = settings.default_platform
    if chosen is not None and chosen not in platforms:
        problems.append(f"  CASEROOM_DEFAULT_PLATFORM: must be one of the installed chat platforms "
                        f"({', '.join(sorted(platforms)) or 'none'}), not {chosen!r}")  # fmt: skip
    elif chosen is None and len(configured) > 1:
        problems.append(f"  CASEROOM_DEFAULT_PLATFORM: required when several chat platforms are configured "
                        f"({', '.join(sorted(configured))}): which one gets a case that names none?")  # fmt: skip
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(problems))
    return settings
