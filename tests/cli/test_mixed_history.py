"""An archive imported into a database that already holds another history: the import says so,
and a backtest over both says how many invoices and customers it used and warns."""

from __future__ import annotations

import json
from datetime import date

from dunning.cli.base import open_database
from dunning.clock import SystemClock
from dunning.simulation import Portfolio, generate_portfolio
from tests.scoring.ledger import push, world

COLUMNS = ["external_id", "customer_external_id", "number", "currency", "total", "issued_on", "due_on", "paid_on"]


def archive_csv(tmp_path, portfolio: Portfolio, prefix: str = "OLD-"):
    """A settled history as an accounting system exports it, its ids apart from the other world's."""
    inv = portfolio.invoices[portfolio.invoices["paid_on"].notna()]
    lines = [",".join(COLUMNS)]
    for r in inv.itertuples():
        lines.append(
            ",".join(
                [
                    prefix + r.external_id,
                    prefix + r.customer_external_id,
                    prefix + r.number,
                    r.currency,
                    f"{r.total_minor / 100:.2f}",
                    f"{r.issued_on:%Y-%m-%d}",
                    f"{r.due_on:%Y-%m-%d}",
                    f"{r.paid_on:%Y-%m-%d}",
                ]
            )
        )
    path = tmp_path / "archive.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, len(inv), inv["customer_external_id"].nunique()


def old_world() -> Portfolio:
    return generate_portfolio(80, 12, date(2012, 1, 1), date(2014, 1, 1), seed=5)


def test_an_archive_beside_another_history_is_flagged_at_import_and_in_the_backtest(shell, tmp_path):
    recent = world(customers=60)
    invoices_before = push(open_database(), SystemClock(), recent)  # migrated, as every command does
    path, rows, customers = archive_csv(tmp_path, old_world())

    imported = " ".join(shell.run("import", "invoices", str(path), "--create-customers").output.split())
    assert f"{rows} rows: {rows} created" in imported
    assert (
        f"warning: this database already held {invoices_before} invoices of 60 other customers, issued "
        f"{recent.invoices['issued_on'].min():%Y-%m-%d} to {recent.invoices['issued_on'].max():%Y-%m-%d}, and "
        f"these {rows} invoices are of {customers} customers new to it"
    ) in imported
    assert "DUNNING_DATABASE_URL=sqlite:///var/<name>.db" in imported

    r = json.loads(shell.run("model", "backtest", "--cutoff", "2013-07-01", "--json").output)
    assert 60 < r["test_customers"] <= customers + 60  # both worlds' customers are tested
    gap, strangers = r["warnings"]
    assert "this database seems to hold two histories" in gap and "days)" in gap
    assert "customers with no invoice before the cutoff" in strangers
    assert r["n_test"] / 2 < int(strangers.split()[0]) < r["n_test"]  # the recent world's, and a few late joiners
    table = " ".join(shell.run("model", "backtest", "--cutoff", "2013-07-01").output.split())
    assert f"test {r['n_test']} of {r['test_customers']}" in table and "warning: no invoice was issued between" in table


def test_one_history_alone_imports_and_backtests_without_a_warning(shell, tmp_path):
    path, rows, customers = archive_csv(tmp_path, old_world())
    imported = shell.run("import", "invoices", str(path), "--create-customers").output
    assert f"{rows} rows: {rows} created" in imported and "warning" not in imported
    again = shell.run("import", "invoices", str(path), "--create-customers").output  # known customers: routine
    assert f"{rows} unchanged" in again and "warning" not in again

    r = json.loads(shell.run("model", "backtest", "--cutoff", "2013-07-01", "--json").output)
    assert r["warnings"] == [] and r["train_customers"] <= customers and r["test_customers"] <= customers
