"""Commands run against their own SQLite file and var folder, as a user's shell would."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dunning.cli import app as cli
from dunning.config import get_settings
from dunning.db import Database, make_engine


class Shell:
    def __init__(self, tmp_path):
        self.url = f"sqlite:///{tmp_path / 'cli.db'}"
        self.var = tmp_path / "var"

    def run(self, *args: str, code: int = 0):
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == code, (result.output, result.exception)
        return result

    def database(self) -> Database:
        return Database(make_engine(self.url))


@pytest.fixture
def shell(tmp_path, monkeypatch) -> Shell:
    sh = Shell(tmp_path)
    monkeypatch.setenv("DUNNING_DATABASE_URL", sh.url)
    monkeypatch.setenv("DUNNING_VAR_DIR", str(sh.var))
    for name in (
        "DUNNING_SMTP_HOST",
        "DUNNING_TWILIO_ACCOUNT_SID",
        "DUNNING_LETTER_PROVIDER_URL",
        "DUNNING_AGENCY_WEBHOOK_URL",
        "DUNNING_DEMO",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield sh
    get_settings.cache_clear()
