"""E-mail participants' settings: ``CASEROOM_SMTP_URL`` and ``CASEROOM_MAIL_*``."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from bot.config import PluginSettings

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}


class SmtpServer:
    """Where outbound mail is handed over, read from ``CASEROOM_SMTP_URL``:

    ``smtp://[user:password@]host[:587]`` speaks STARTTLS when the server offers it (``?starttls=required`` insists,
    ``?starttls=no`` never asks: a local relay); ``smtps://host[:465]`` is TLS from the first byte.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("must be smtp://[user:password@]host[:port] or smtps://...")
        self.host = parts.hostname
        self.port = parts.port or DEFAULT_PORTS[parts.scheme]
        self.implicit_tls = parts.scheme == "smtps"
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        starttls = parse_qs(parts.query).get("starttls", ["auto"])[0].lower()
        if starttls not in ("auto", "required", "no"):
            raise ValueError("starttls must be auto, required or no")
        self.starttls: bool | None = {"auto": None, "required": True, "no": False}[starttls]


class MailSettings(PluginSettings):
    model_config = SettingsConfigDict(env_prefix="CASEROOM_", env_file=None, extra="ignore")
    switch_on = ("smtp_url", "mail_domain")
    ends_sandbox = False  # an operator's own SMTP relay with the chat platforms still emulated is a sandbox

    smtp_url: SecretStr | None = None  # may carry the relay's password
    # Reply addresses are case-<number>+<token>@<mail_domain>: the domain whose MX (or relay rule) reaches
    # CaseRoom's listener, or the inbound route of the e-mail provider.
    mail_domain: str | None = None
    mail_from: str | None = None  # "CaseRoom <caseroom@<mail_domain>>" when unset
    # host:port the embedded SMTP listener takes mail on (e.g. 0.0.0.0:2525 behind the MTA); unset: none.
    mail_listen: str | None = None
    mail_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)  # larger mail is refused (552)
    # Authentication-Results headers are believed only from this authserv-id (the MTA in front; RFC 8601 §5):
    # anyone can write such a header into a mail. Unset: none is believed and none is recorded.
    mail_authserv_id: str | None = None
    # Mailgun's HTTP webhook signing key: set, replies also come in through a Mailgun route that forwards raw MIME
    # to POST /webhooks/mailgun/mime (each request signed with it; see integrations/mail/mailgun.py).
    mailgun_signing_key: SecretStr | None = None
    mail_timeout_seconds: float = Field(30.0, gt=0, le=300)
    # The room's entries reach e-mail members in a digest once the oldest has waited this long (one mail, not one
    # per line); an engineer's message waits only mail_prompt_seconds.
    mail_digest_seconds: int = Field(300, ge=10, le=86400)
    mail_prompt_seconds: int = Field(60, ge=5, le=86400)

    @property
    def configured(self) -> bool:
        return self.smtp_url is not None and bool(self.mail_domain)

    @property
    def server(self) -> SmtpServer:
        assert self.smtp_url is not None
        return SmtpServer(self.smtp_url.get_secret_value())

    @property
    def sender(self) -> str:
        return self.mail_from or f"CaseRoom <caseroom@{self.mail_domain}>"

    @property
    def listen(self) -> tuple[str, int] | None:
        if not self.mail_listen:
            return None
        host, _, port = self.mail_listen.rpartition(":")
        return host or "127.0.0.1", int(port)

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            SmtpServer(v.get_secret_value())
        return v

    @field_validator("mail_listen")
    @classmethod
    def _listen(cls, v: str | None) -> str | None:
        if v is not None and not v.rpartition(":")[2].isdigit():
            raise ValueError("must be host:port, e.g. 0.0.0.0:2525")
        return v

    @field_validator("mail_domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is not None and ("@" in v or "." not in v.strip(".")):
            raise ValueError("must be a domain, e.g. reply.example.com")
        return v.lower() if v else v

    @model_validator(mode="after")
    def _pair(self) -> MailSettings:
        if (self.smtp_url is None) != (self.mail_domain is None):
            raise ValueError("CASEROOM_SMTP_URL and CASEROOM_MAIL_DOMAIN go together: set both or neither")
        return self
