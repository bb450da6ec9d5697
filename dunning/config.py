"""One Settings object, read from DUNNING_* environment variables and an optional .env file."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUNNING_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///var/dunning.db"
    var_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = DEV_SECRET
    bootstrap_api_key: str | None = None
    embedded_worker: bool = True
    demo: bool = False  # load the demo portfolio at `serve` start-up when the database has no customers

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
    payment_url: str | None = None

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

    # customer portal links
    portal_link_days: int = Field(30, ge=1)

    # the collections desk: sessions and password lock-out (times from the injected clock)
    desk_session_hours: int = Field(12, ge=1, le=24 * 30)  # a session ends this long after sign-in
    desk_idle_minutes: int = Field(60, ge=5)  # ...or after this long without a request
    login_max_failures: int = Field(5, ge=1, le=100)  # wrong passwords in a row before the account locks
    login_lockout_minutes: int = Field(15, ge=1)

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> "Settings":
        if self.environment == "production":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError("DUNNING_SECRET_KEY must be set to a random value of 32+ characters in production")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs DUNNING_DATABASE_URL pointing at PostgreSQL")
        return self

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def model_dir(self) -> Path:
        return self.var_dir / "models"


@lru_cache
def get_settings() -> Settings:
    return Settings()
