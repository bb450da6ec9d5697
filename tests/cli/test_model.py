from __future__ import annotations

import json

import pytest

from dunning.cli.base import open_database
from dunning.clock import SystemClock
from tests.datasets import IBM, IBM_MAP, ibm_backtest, needs_ibm
from tests.scoring.ledger import push, world

IBM_IMPORT = [
    "import",
    "invoices",
    str(IBM),
    "--map",
    IBM_MAP,
    "--date-format",
    "%m/%d/%Y",
    "--currency",
    "USD",
    "--create-customers",
]


@needs_ibm
def test_the_ibm_yardstick_from_the_services_own_database(shell, tmp_path):
    shell.run(*IBM_IMPORT)
    out = shell.run("model", "backtest", "--cutoff", "2013-07-01", "--json", "--plot", str(tmp_path / "c.png"))
    r = json.loads(out.output)
    # What the database path reaches; the same figure as the pure backtest on the CSV (0.920),
    # since the ledger hands back the same dates, amounts and order.
    assert r["auc"] == pytest.approx(0.920, abs=0.002) and r["auc"] >= 0.87
    assert r["auc"] > r["baseline_auc"] and r["auc"] > r["rule_auc"]
    assert (r["n_train"], r["n_test"], r["late_days"]) == (1763, 536, 15)
    assert r["auc"] == ibm_backtest("2013-07-01")["auc"]
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    table = shell.run("model", "backtest", "--cutoff", "2013-07-01").output
    assert "0.920" in table and "baseline" in table and "rule: prior late rate" in table


def test_commands_refuse_bad_dates_and_an_empty_database(shell):
    assert "--cutoff takes a date" in shell.run("model", "backtest", "--cutoff", "July", code=2).output
    assert "dates run from 1900-01-01" in shell.run("model", "backtest", "--cutoff", "0001-01-01", code=2).output
    out = shell.run("run-cycle", "--dry-run", "--now", "9999-12-31T23:59:59-12:00", code=2).output
    assert "--now: 9999-12-31 is out of range" in out
    assert "holds no invoices" in shell.run("model", "backtest", "--cutoff", "2013-07-01", code=2).output


def test_train_list_rescore_promote_and_rollback(shell):
    database = open_database()  # migrated, as every command does
    push(database, SystemClock(), world(customers=120))

    assert "promoted" in shell.run("model", "train").output  # and rescored at once
    listed = shell.run("model", "list").output
    assert "champion" in listed and str(shell.var / "models") in listed.replace("\n", "")
    assert "nothing new to learn" in shell.run("model", "train").output
    rescored = shell.run("model", "rescore").output
    assert "customers scored with xgb-" in rescored and "0 new scores stored" in rescored

    assert "no earlier champion" in shell.run("model", "rollback", code=2).output
    assert "no model version 'nope'" in shell.run("model", "promote", "nope", code=2).output
