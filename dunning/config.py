"""One Settings object, read from DUNNING_* environment variables and an optional .env file.

Errors about settings never repeat their values (`hide_input_in_errors`): a refusal to start is
printed and logged, and it must not carry the secret key or the SMTP password with it.
"""

from __future__ import annotations

import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger(__name__)
MIN_SECRET = 32  # characters of the secret key and of a bootstrap API key in production
SECRET_KEY_FILE = "secret_key"  # under var_dir: the key generated when none is configured


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUNNING_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    environment: Literal["development", "production"] = "development"
    # Unset (""): the SQLite file under var_dir, <var_dir>/dunning.db, or <var_dir>/demo.db when
    # `demo` is set, so the made-up portfolio never lands in the database real data goes to.
    database_url: str = ""
    var_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Unset (""): http://<host>:<port>, so links follow where `serve` listens.
    public_url: str = ""
    # Signs portal and unsubscribe links, desk sessions and form tokens. Unset in development: a
    # random key is generated on first start and kept in <var_dir>/secret_key (see signing_key).
    secret_key: str | None = None
    bootstrap_api_key: str | None = None
    embedded_worker: bool = True
    # Work on the demo: its own database (see database_url), loaded at `serve` start-up when empty.
    demo: bool = False
    log_format: Literal["text", "json"] = "text"  # json: one object per line, for a log collector
    # /metrics asks for an API key with the read scope (false: whoever reaches the port may scrape)
    metrics_require_key: bool = True
    # `worker` serves its own process metrics on this port (on DUNNING_HOST); unset: none
    worker_metrics_port: int | None = Field(None, ge=1, le=65535)

    # scheduler
    cycle_interval_seconds: int = Field(300, ge=1)
    dispatch_interval_seconds: int = Field(5, ge=1)
    dispatch_batch: int = Field(200, ge=1)
    max_send_attempts: int = Field(8, ge=1)

    # scoring
    late_days_threshold: int = Field(15, ge=0)
    min_training_invoices: int = Field(200, ge=10)

    # creditor shown on notices and letters
    company_name: str = "Example Trading Ltd"
    company_address: str = "1 Example Street\nLondon EC1A 1AA\nUnited Kingdom"
    company_email: str = "collections@example.com"
    company_phone: str = "+44 20 7946 0000"
    payment_url: str | None = None  # a static payment link, shown when online payment is not configured

    # online payment through Stripe Checkout (unset secret key: the static payment_url, if any)
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None  # the endpoint's signing secret (whsec_...)
    stripe_api_base: str | None = None  # another base URL for Stripe's API (a local fake in tests)

    # email (unset host: file transport under var/outbox)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from_address: str = "collections@example.com"
    smtp_from_name: str = "Collections"
    smtp_reply_domain: str | None = None
    smtp_validate_certs: bool = True
    smtp_ca_file: Path | None = None  # CA bundle for a relay with a private or self-signed certificate
    smtp_timeout_seconds: float = 30.0

    # SMS (unset account: file transport)
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: str | None = None  # e.g. a local fake or an egress proxy instead of https://api.twilio.com

    # letters and agency hand-off (unset: file drop under var/outbox)
    letter_provider_url: str | None = None
    agency_webhook_url: str | None = None
    agency_webhook_secret: str | None = None
    # HTTP calls to Twilio, the letter provider and the agency webhook
    http_timeout_seconds: float = Field(30.0, gt=0)

    # inbound email webhook signature
    inbound_email_secret: str | None = None
    inbound_email_max_bytes: int = Field(25_000_000, ge=1_000)
    # the SharedKey secret of Twilio webhooks that carry X-Twilio-Webhooks-Signature-Settings
    # (without that header Twilio signs with the auth token)
    twilio_webhook_key: str | None = None

    # replies and arrangements
    arrangements_interval_seconds: int = Field(3600, ge=1)
    already_paid_pause_days: int = Field(5, ge=0, le=60)  # time for a payment the customer says they made to arrive
    dispute_response_days: int = Field(14, ge=1, le=120)  # the team's deadline to answer a dispute

    # outbound webhooks (README "Webhooks")
    webhook_interval_seconds: int = Field(5, ge=1)
    webhook_batch: int = Field(100, ge=1, le=1000)  # deliveries claimed per round
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(12, ge=1, le=50)  # then the delivery fails (redeliver sends it again)
    webhook_disable_after_days: int = Field(5, ge=1, le=90)  # an endpoint failing this long is disabled
    # Hosts whose addresses are not checked (an internal CRM on a private address): comma-separated.
    webhook_allowed_hosts: Annotated[frozenset[str], NoDecode] = frozenset()

    # the worklist ranked by what is at stake (README "The collections desk")
    at_risk_days: int = Field(30, ge=1, le=365)  # cash at risk: likely still unpaid this many days from now
    # What one unit of each currency is worth in one reference currency, to rank accounts in
    # different currencies together ({"EUR": 1, "GBP": 1.17}); a currency not listed counts at par.
    ranking_rates: dict[Annotated[str, Field(pattern="^[A-Z]{3}$")], Annotated[float, Field(gt=0, le=1e6)]] = {}

    # customer portal links
    portal_link_days: int = Field(30, ge=1)

    # the collections desk: sessions and password lock-out (times from the injected clock)
    desk_session_hours: int = Field(12, ge=1, le=24 * 30)  # a session ends this long after sign-in
    desk_idle_minutes: int = Field(60, ge=5)  # ...or after this long without a request
    login_max_failures: int = Field(5, ge=1, le=100)  # wrong passwords in a row before the account locks
    login_lockout_minutes: int = Field(15, ge=1)

    _generated_key: str | None = PrivateAttr(default=None)

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, (list, tuple, set, frozenset)):
            return frozenset(str(host).strip().lower().rstrip(".") for host in value if str(host).strip())
        return value

    @model_validator(mode="after")
    def _derive_unset_and_refuse_placeholders(self) -> Settings:
        if not self.database_url:
            self.database_url = default_database_url(self.var_dir, self.demo)
        if not self.public_url:
            self.public_url = derived_public_url(self.host, self.port)
        if self.environment == "production":
            if not self.secret_key or len(self.secret_key) < MIN_SECRET:
                raise ValueError(
                    f"DUNNING_SECRET_KEY must be set to a random value of {MIN_SECRET}+ characters in production"
                )
            if self.bootstrap_api_key is not None and len(self.bootstrap_api_key) < MIN_SECRET:
                raise ValueError(f"DUNNING_BOOTSTRAP_API_KEY must have {MIN_SECRET}+ characters in production")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs DUNNING_DATABASE_URL pointing at PostgreSQL")
        return self

    @property
    def signing_key(self) -> str:
        """DUNNING_SECRET_KEY, or in development the key generated on first use (never a placeholder
        that anyone could sign links with)."""
        if self.secret_key:
            return self.secret_key
        if self._generated_key is None:
            self._generated_key = _load_or_create_key(self.var_dir / SECRET_KEY_FILE)
        return self._generated_key

    def real_providers(self) -> dict[str, str | None]:
        """Per channel, the setting that sends through a real provider (None: files under var/outbox)."""
        return {
            "email": self.smtp_host,
            "sms": self.twilio_account_sid if self.twilio_auth_token else None,
            "letter": self.letter_provider_url,
            "agency": self.agency_webhook_url,
        }

    @property
    def public_url_derived(self) -> bool:
        return self.public_url == derived_public_url(self.host, self.port)

    @property
    def online_payment(self) -> bool:
        """The portal's "Pay now" opens a Stripe Checkout Session for the invoices chosen."""
        return bool(self.stripe_secret_key)

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def model_dir(self) -> Path:
        return self.var_dir / "models"


def masked_url(url: str) -> str:
    """A URL as it may be logged: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def default_database_url(var_dir: Path, demo: bool) -> str:
    return f"sqlite:///{var_dir / ('demo.db' if demo else 'dunning.db')}"


def derived_public_url(host: str, port: int) -> str:
    """Where `serve` listens, as a URL; a wildcard address is reached on loopback."""
    reach = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{f'[{reach}]' if ':' in reach else reach}:{port}"


def _load_or_create_key(path: Path) -> str:
    """The key in `path`, or a new random one written there readable by this user only. Two
    processes starting at once (a server and a worker) end up with the same key: the file appears
    whole or not at all (a hard link of a finished temporary file), and the second reads the first's."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)
            log.warning("no DUNNING_SECRET_KEY: generated one in %s (set DUNNING_SECRET_KEY in production)", path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    key = path.read_text().strip()
    if len(key) < MIN_SECRET:
        raise ValueError(f"{path} holds no usable secret key: remove it to have a new one generated")
    return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
