"""`main.py replies read FILE.eml ... --json`: one JSON object per file, from the same parsing and
classifying the inbound webhook uses, without a database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from dunning.cli import app as cli

MESSAGES = Path(__file__).parent / "messages"
KEYS = {"file", "reply_text", "language", "intent", "confident", "promised_date", "amount", "is_bounce", "is_autoreply"}


def read(*names: str, code: int = 0, extra: tuple[str, ...] = ()) -> list[dict]:
    args = ["replies", "read", *[str(MESSAGES / n) if "/" not in n else n for n in names], "--json", *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, (result.output, result.exception)
    return [json.loads(line) for line in result.output.splitlines()]


def test_one_object_per_file_with_what_was_read():
    promise, bounce, away, german = read(
        "gmail_alternative_en.eml",
        "bounce_gmail_reminder.eml",
        "autoreply_outlook_en.eml",
        "gmail_de_reply.eml",
        extra=("--now", "2025-03-19T11:00:00Z", "--currency", "EUR"),
    )
    assert all(KEYS <= set(row) for row in (promise, bounce, away, german))
    assert promise["file"].endswith("gmail_alternative_en.eml")
    assert promise["reply_text"] == "I'll pay on Friday, sorry for the delay.\n\nThanks,\nJohn"
    assert (promise["language"], promise["intent"], promise["confident"], promise["promised_date"]) == (
        "en",
        "promise_to_pay",
        True,
        "2025-03-21",
    )
    assert bounce["is_bounce"] and bounce["intent"] is None and bounce["bounce"][0]["status"] == "5.1.1"
    assert away["is_autoreply"] and away["return_text"] == "back on 12 January" and not away["is_bounce"]
    assert german["language_hints"] == ["de"] and german["reply_text"].startswith("Hallo,")


def test_the_date_of_the_message_is_now_when_none_is_given():
    [row] = read("iphone_latin1_fr.eml", extra=("--lang", "fr"))
    assert (row["intent"], row["promised_date"], row["amount"]) == ("promise_to_pay", "2025-03-21", "250.50")


def test_a_file_that_cannot_be_read_is_reported_and_the_others_still_are(tmp_path):
    rows = read(str(tmp_path / "missing.eml"), "gmail_alternative_en.eml", code=1)
    assert "cannot read" in rows[0]["error"] and rows[1]["intent"] == "promise_to_pay"


def test_listing_the_commands_does_not_load_the_mail_reader():
    code = "import sys, dunning.cli; print(sorted(m for m in sys.modules if m.startswith('dunning.replies.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "dunning.replies.mail" not in loaded and "dunning.replies.bounces" not in loaded
