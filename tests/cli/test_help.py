"""Help that reads well, everywhere; and a command line that loads only what a command needs
(benchmarks/cli_startup.py times it; this proves what is left out)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from dunning.cli import app

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["xgboost", "sklearn", "pandas", "weasyprint", "matplotlib", "lingua", "numpy", "scipy"]


def commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


ALL = list(commands(typer.main.get_command(app)))


def test_every_command_has_a_one_line_description():
    missing = [" ".join(path) for path, command in ALL if not (command.get_short_help_str(limit=80) or "").strip()]
    assert missing == []
    truncated = [" ".join(path) for path, command in ALL if command.get_short_help_str(limit=60).endswith("...")]
    assert truncated == []  # the first sentence fits the listing


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=" ".join)
def test_short_h_works_and_flags_show_no_value(path):
    result = CliRunner().invoke(app, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "{path}" not in result.output
    assert "-h, --help" in result.output


def test_arguments_and_values_have_names_that_say_what_they_are():
    unnamed = []
    for path, command in ALL:
        for param in command.params:
            if isinstance(param, click.Argument) and not (param.metavar and param.metavar.isupper()):
                unnamed.append(f"{' '.join(path)} {param.name}")
    assert unnamed == []
    out = CliRunner().invoke(app, ["import", "invoices", "-h"]).output
    assert "{FILE}" in out and "--map FIELD=COLUMN,..." in out and "--create-customers  " in out


def loaded(*args: str) -> set[str]:
    """The top-level packages a real `main.py ARGS` process has imported when it exits."""
    code = (
        "import runpy, sys, json, atexit\n"
        "atexit.register(lambda: print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), "
        "file=sys.stderr))\n"
        f"sys.argv = ['main.py', *{list(args)!r}]\n"
        f"runpy.run_path({str(ROOT / 'main.py')!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_help_loads_no_database_layer_and_no_heavy_library():
    modules = loaded("--help")
    assert modules.isdisjoint([*HEAVY, "sqlalchemy", "sqlmodel", "pydantic", "uvicorn", "fastapi"])
    assert "typer" in modules  # the measurement is real


def test_reading_a_reply_loads_no_model_pdf_or_database_library():
    modules = loaded("replies", "classify", "je paierai vendredi", "--lang", "fr", "--now", "2026-03-02T09:00:00Z")
    assert modules.isdisjoint([*HEAVY, "sqlalchemy", "sqlmodel", "fastapi"])
    assert "dateparser" in modules
