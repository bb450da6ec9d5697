"""`model ...`: train, list, promote, roll back, rescore, backtest."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from dunning.cli.base import app, console, domain_errors, err, fail, open_database

model_app = typer.Typer(help="The risk model: train, compare, promote, backtest.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("train")
@domain_errors
def train() -> None:
    """Train a challenger, and promote it if it wins.

    It must beat the champion (or, with none, the baseline); a promotion rescores at once."""
    from dunning.clock import SystemClock
    from dunning.config import get_settings
    from dunning.scoring import jobs

    settings = get_settings()
    with console.status("training..."):
        result = jobs.retrain(open_database(settings), SystemClock(), settings, actor="cli")
    console.print(result.message, markup=False, highlight=False)


@model_app.command("list")
def list_versions() -> None:
    """List every version, with what decided it."""
    from rich.table import Table

    from dunning.scoring import registry

    with open_database().session() as session:
        rows = registry.versions(session)
    if not rows:
        console.print("no model trained yet: the baseline scores")
        return
    table = Table("version", "status", "trained (UTC)", "rows", "AUC", "baseline AUC")
    table.columns[0].no_wrap = True
    for r in rows:
        rehearsal = r.metrics.get("rehearsal") or {}
        table.add_row(
            r.version,
            r.status,
            f"{r.created_at:%Y-%m-%d %H:%M}",
            str(r.n_rows),
            _f((rehearsal.get("model") or {}).get("auc")),
            _f((rehearsal.get("baseline") or {}).get("auc")),
        )
    console.print(table)
    console.print("AUC: rehearsal on the newest outcomes, trained without them. Decided on:")
    for r in rows:
        console.print(
            f"  {r.version}: {(r.metrics.get('comparison') or {}).get('summary', '')} [dim]({r.artifact_path})[/dim]",
            highlight=False,
        )


@model_app.command("promote")
@domain_errors
def promote(version: Annotated[str, typer.Argument(metavar="VERSION", help="as `model list` shows it")]) -> None:
    """Make VERSION the champion (any version, earlier ones too)."""
    from dunning.clock import SystemClock
    from dunning.scoring import registry

    with open_database().session() as session:
        registry.promote(session, SystemClock(), version, "cli")
    console.print(f"{version} is the champion; its scores apply from the next rescore (`model rescore` now)")


@model_app.command("rollback")
@domain_errors
def rollback() -> None:
    """Back to the champion before the current one."""
    from dunning.clock import SystemClock
    from dunning.scoring import registry

    with open_database().session() as session:
        row = registry.rollback(session, SystemClock(), "cli")
    console.print(f"{row.version} is the champion again; its scores apply from the next rescore")


@model_app.command("rescore")
@domain_errors
def rescore() -> None:
    """Score every customer with open invoices now."""
    from dunning.clock import SystemClock
    from dunning.config import get_settings
    from dunning.scoring import jobs

    settings = get_settings()
    with console.status("scoring..."):
        r = jobs.rescore(open_database(settings), SystemClock(), settings)
    console.print(
        f"{r.customers} customers scored with {r.scorer}; {r.written} new scores stored; "
        f"payment dates of {r.pay_dates} open invoices"
    )


@model_app.command("backtest")
@domain_errors
def backtest(
    cutoff: Annotated[
        str,
        typer.Option(
            metavar="DAY", help="train on what was known before this day (YYYY-MM-DD), test on invoices issued from it"
        ),
    ],
    late_days: Annotated[
        int | None,
        typer.Option(metavar="N", help="late = paid more than N days after due (default DUNNING_LATE_DAYS_THRESHOLD)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    plot: Annotated[
        Path | None, typer.Option(metavar="FILE.png", help="write ROC and calibration curves to this PNG")
    ] = None,
) -> None:
    """Measure the model on this database's history.

    Trains as of the cutoff, tests on the invoices issued from it, beside the baseline and the
    plain prior-late-rate rule."""
    from rich.table import Table

    from dunning.bounds import WINDOW, check_day
    from dunning.config import get_settings
    from dunning.scoring import backtest as bt
    from dunning.scoring.data import load_history
    from dunning.scoring.service import json_safe

    try:
        day = check_day(date.fromisoformat(cutoff))
    except ValueError:
        fail(f"--cutoff takes a date such as 2013-07-01 ({WINDOW}), not '{cutoff}'")
    settings = get_settings()
    with open_database(settings).session() as session:
        history = load_history(session)
    if history.invoices.empty:
        fail("the database holds no invoices: import a history first (see README, 'Importing a CSV export')")
    result = bt.backtest(
        history.invoices,
        day,
        late_days=settings.late_days_threshold if late_days is None else late_days,
        events=history.events,
    )
    if plot is not None:
        bt.plot(result, plot)
    if as_json:
        typer.echo(json.dumps(json_safe({k: v for k, v in result.items() if k != "curves"})))
        return
    table = Table(
        "",
        "ROC AUC",
        "PR AUC",
        "Brier",
        title=f"cutoff {result['cutoff']}, late = more than "
        f"{result['late_days']} days after due; train {result['n_train']} invoices of "
        f"{result['train_customers']} customers, test {result['n_test']} of {result['test_customers']}",
    )
    table.add_row("model", _f(result["auc"]), _f(result["pr_auc"]), _f(result["brier"]))
    table.add_row(
        "baseline (smoothed prior late rate)",
        _f(result["baseline_auc"]),
        _f(result["baseline_pr_auc"]),
        _f(result["baseline_brier"]),
    )
    table.add_row("rule: prior late rate", _f(result["rule_auc"]), "", "")
    console.print(table)
    dates = Table(
        "",
        "days late MAE",
        "10-90 % band coverage",
        title=f"payment dates of the {result['n_test']} test invoices (MAE of days late floored at 0, "
        "coverage of the actual dates)",
    )
    model_row = "model" if result["pay_date_model"] == "model" else "model (did not beat the baseline: not used)"
    dates.add_row(model_row, _f(result["days_late_mae"]), _pct(result["coverage"]))
    dates.add_row(
        "baseline (each customer's history)", _f(result["days_late_mae_baseline"]), _pct(result["coverage_baseline"])
    )
    console.print(dates)
    console.print(
        f"weekly cash, {result['cash_weeks']} weeks from the cutoff, {result['cash_invoices']} invoices open then "
        "or raised since:",
        highlight=False,
    )
    console.print(
        f"expected cash WAPE {_pct(result['cash_wape'])}, actual inside the 10-90 % band in "
        f"{result['cash_band_hits']} of {result['cash_weeks']} weeks",
        highlight=False,
    )
    for warning in result["warnings"]:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if plot is not None:
        console.print(f"curves written to {plot}")


def _f(x) -> str:
    return "" if x is None or x != x else f"{x:.3f}"


def _pct(x) -> str:
    return "" if x is None or x != x else f"{x:.1%}"
