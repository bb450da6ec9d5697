"""Settings that mean what they say: the var folder holds the default database, links follow where
the server listens, and the start-up block tells which database, address, transports and worker."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dunning.app import create_app
from dunning.config import Settings, masked_url


def make(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_the_var_folder_holds_the_default_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DUNNING_DATABASE_URL", raising=False)
    monkeypatch.setenv("DUNNING_VAR_DIR", str(tmp_path / "elsewhere"))
    settings = Settings(_env_file=None)
    assert settings.database_url == f"sqlite:///{tmp_path / 'elsewhere' / 'dunning.db'}"
    assert settings.outbox_dir == tmp_path / "elsewhere" / "outbox"
    monkeypatch.delenv("DUNNING_VAR_DIR")
    assert make().database_url == "sqlite:///var/dunning.db"  # the relative default, as before


def test_the_demo_has_a_database_of_its_own_unless_one_is_named(tmp_path):
    assert make(var_dir=tmp_path, demo=True).database_url == f"sqlite:///{tmp_path / 'demo.db'}"
    named = "postgresql://dunning:secret@db.internal/dunning"
    assert make(var_dir=tmp_path, demo=True, database_url=named).database_url == named


def test_the_public_url_follows_host_and_port_unless_set(monkeypatch):
    monkeypatch.delenv("DUNNING_PUBLIC_URL", raising=False)
    monkeypatch.setenv("DUNNING_PORT", "8123")
    assert Settings(_env_file=None).public_url == "http://127.0.0.1:8123"
    assert Settings(_env_file=None).public_url_derived
    assert make(host="0.0.0.0", port=9000).public_url == "http://127.0.0.1:9000"  # every address: loopback reaches it
    assert make(host="::1", port=9000).public_url == "http://[::1]:9000"
    explicit = make(port=9000, public_url="https://pay.example.com")
    assert explicit.public_url == "https://pay.example.com" and not explicit.public_url_derived


def test_a_port_outside_the_range_is_refused():
    with pytest.raises(ValueError):
        make(port=70000)


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://dunning:s3cret@db.internal:5432/dunning", "postgresql://dunning:***@db.internal:5432/dunning"),
        ("https://api:k3y@print.example/v1?x=1", "https://api:***@print.example/v1?x=1"),
        ("sqlite:///var/dunning.db", "sqlite:///var/dunning.db"),
    ],
)
def test_urls_are_logged_without_their_password(url, shown):
    assert masked_url(url) == shown


def test_start_up_logs_database_address_transports_and_worker_in_one_block(db, clock, tmp_path, caplog):
    settings = make(
        var_dir=tmp_path / "var",
        database_url="postgresql://dunning:s3cret@db.internal/dunning",
        port=8123,
        smtp_host="smtp.example.com",
        smtp_password="hunter2",
        letter_provider_url="https://api:k3y@print.example/v1",
        embedded_worker=False,
    )
    app = create_app(settings, database=db, clock=clock, embedded_worker=False)
    with caplog.at_level(logging.INFO, logger="dunning"), TestClient(app):
        pass
    blocks = [r for r in caplog.records if r.getMessage().startswith("starting:")]
    assert len(blocks) == 1
    text = blocks[0].getMessage()
    assert "postgresql://dunning:***@db.internal/dunning" in text
    assert "http://127.0.0.1:8123 (follows DUNNING_HOST and DUNNING_PORT" in text
    assert "SMTP smtp.example.com:587 (starttls)" in text
    assert f"file {Path(tmp_path / 'var' / 'outbox' / 'sms.jsonl')}" in text
    assert "provider https://api:***@print.example/v1" in text
    assert "none in this process (DUNNING_EMBEDDED_WORKER=false)" in text
    assert not any(secret in text for secret in ("s3cret", "hunter2", "k3y"))
    facts = blocks[0].startup  # the same facts as fields, for a JSON log
    assert set(facts["transports"]) == {"email", "sms", "letter", "agency"}
