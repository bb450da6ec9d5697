"""`main.py replies classify --batch FILE.jsonl`: one output line per input line, bad lines included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from dunning.cli import app as cli

ROOT = Path(__file__).resolve().parents[2]


def test_one_line_out_per_line_in_with_the_keys_of_classify_json(tmp_path):
    lines = [
        {
            "text": "je paierai 150 € vendredi",
            "lang": "fr",
            "channel": "sms",
            "tz": "Europe/Paris",
            "currency": "EUR",
            "now": "2026-03-02T09:00:00Z",
        },
        {
            "text": "Remove the late fee and I'll pay today.",
            "lang": "en",
            "channel": "email",
            "tz": "Europe/London",
            "currency": "GBP",
            "now": "2026-03-02T09:00:00Z",
        },
    ]
    bad = [
        '{"text": "stop", "lang": "xx"}',
        "not json",
        '["a list"]',
        '{"text": 42}',
        '{"text": "ok", "tz": "Mars/Olympus"}',
        '{"text": "ok", "now": "yesterday"}',
        '{"text": "ok", "extra": 1}',
        '{"text": "ok", "channel": "fax"}',
        '{"text": "x", "now": "9999-12-31T23:59:59-12:00"}',
    ]
    path = tmp_path / "replies.jsonl"
    path.write_text("\n".join([json.dumps(line, ensure_ascii=False) for line in lines] + bad) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["replies", "classify", "--batch", str(path)])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert len(out) == len(lines) + len(bad)
    single = CliRunner().invoke(
        cli,
        [
            "replies",
            "classify",
            lines[0]["text"],
            "--lang",
            "fr",
            "--json",
            "--tz",
            "Europe/Paris",
            "--currency",
            "EUR",
            "--now",
            "2026-03-02T09:00:00Z",
        ],
    )
    assert out[0] == json.loads(single.output)
    assert set(out[1]) == set(out[0])
    assert out[1]["condition"] == "Remove the late fee" and not out[1]["confident"]
    assert all(set(o) == {"error"} for o in out[2:]), out[2:]
    assert "no lexicon" in out[2]["error"] and "not JSON" in out[3]["error"] and "unknown keys" in out[8]["error"]


def test_the_command_line_does_not_load_the_language_detector():
    code = (
        "import sys; from dunning.cli import app; "
        "print(any(m == 'lingua' or m.startswith('lingua.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
