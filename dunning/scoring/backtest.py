"""Backtest: train with what was known at a cutoff, test on the invoices raised after it.

Training rows are invoices issued before the cutoff whose outcome was final by then (matured:
due date + late_days before the cutoff; see features.training_rows). That includes invoices
still unpaid at the cutoff but already too late, which "settled before the cutoff" would miss.
Test rows are invoices issued on or after the cutoff whose outcome is known by the end of the
data. Features of both come from features.py, which only reads what preceded each row's moment,
so test rows do see history that accumulated after the cutoff, exactly as live scoring would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

from dunning.scoring import paydate
from dunning.scoring.baseline import Baseline
from dunning.scoring.features import payment_rows, scoring_rows, training_rows
from dunning.scoring.model import metrics, train
from dunning.scoring.paydates import Z90, PayDates
from dunning.words import plural

HISTORY_GAP_DAYS = 365  # a business that invoiced at all issues an invoice at least once a year
CASH_WEEKS = 13


def backtest(
    invoices: pd.DataFrame,
    cutoff,
    *,
    late_days: int = 15,
    events: dict | None = None,
    params: dict | None = None,
    rounds: int | None = None,
) -> dict:
    cutoff = pd.Timestamp(cutoff)
    X_tr, y_tr, m_tr = training_rows(invoices, late_days=late_days, events=events, as_of=cutoff)
    model = train(invoices, cutoff=cutoff, late_days=late_days, rows=(X_tr, y_tr, m_tr), params=params, rounds=rounds)
    base = Baseline.fit(y_tr, late_days=late_days)

    X_all, y_all, m_all = training_rows(invoices, late_days=late_days, events=events, matured_only=False)
    test = (m_all["moment"] >= cutoff).to_numpy()
    X_te, y_te = X_all[test], y_all[test]
    p_model = model.predict_proba(X_te)
    p_base = base.predict_proba(X_te)
    # The plain rule of the dataset's README: the customer's raw prior late rate (overall rate
    # for a customer with no history). The smoothed baseline should match or beat it.
    p_rule = X_te["late_rate"].fillna(base.prior).to_numpy()

    got = metrics(y_te, p_model)
    b = metrics(y_te, p_base)
    m_te = m_all[test]
    return {
        "cutoff": str(cutoff.date()),
        "late_days": late_days,
        "auc": got["auc"],
        "pr_auc": got["pr_auc"],
        "brier": got["brier"],
        "baseline_auc": b["auc"],
        "baseline_pr_auc": b["pr_auc"],
        "baseline_brier": b["brier"],
        "rule_auc": metrics(y_te, p_rule)["auc"],
        "n_train": int(len(y_tr)),
        "n_test": int(len(y_te)),
        "train_customers": int(m_tr["customer_id"].nunique()),
        "test_customers": int(m_te["customer_id"].nunique()),
        "warnings": mixed_history(invoices, cutoff, m_te),
        "train_late_share": float(y_tr.mean()) if len(y_tr) else float("nan"),
        "test_late_share": float(y_te.mean()) if len(y_te) else float("nan"),
        "model_version": model.version,
        "rehearsal": model.metadata.get("metrics", {}),
        **pay_date_backtest(invoices, cutoff, late_days=late_days, events=events),
        "curves": {"model": _curves(y_te, p_model), "baseline": _curves(y_te, p_base)},
    }


def pay_date_backtest(invoices: pd.DataFrame, cutoff: pd.Timestamp, *, late_days: int, events: dict | None) -> dict:
    """The payment-date model trained on what was known at the cutoff (open invoices censored
    there), tested on the invoices raised from it whose payment is known, beside the baseline;
    then the weekly cash of the CASH_WEEKS weeks from the cutoff against what was paid."""
    X_tr, m_tr = payment_rows(invoices, as_of=cutoff, late_days=late_days, events=events)
    model = paydate.train(X_tr, m_tr)
    base = paydate.PayDateBaseline.fit(m_tr["days_late"])
    predictor = model if model is not None and paydate.beats_baseline(model) else base

    X_all, m_all = payment_rows(invoices, late_days=late_days, events=events)
    test = ((m_all["moment"] >= cutoff) & m_all["days_late"].notna()).to_numpy()
    y = m_all["days_late"].to_numpy()[test]
    got = paydate.metrics(predictor.quantiles(X_all[test]), y)
    got_base = paydate.metrics(base.quantiles(X_all[test]), y)
    nan = float("nan")
    return {
        "pay_date_model": "model" if predictor is model else "baseline",
        "days_late_mae": got.get("days_late_mae", nan),
        "days_late_mae_baseline": got_base.get("days_late_mae", nan),
        "coverage": got.get("coverage", nan),
        "coverage_baseline": got_base.get("coverage", nan),
        "pay_date_rehearsal": model.metadata["metrics"] if model is not None else {},
        **weekly_cash(invoices, cutoff, predictor, X_all, m_all, late_days=late_days, events=events),
    }


def weekly_cash(invoices, cutoff, predictor, X_all, m_all, *, late_days: int, events) -> dict:
    """Expected cash per week (sum of amount x P(paid that week)) against what was paid, for the
    invoices open at the cutoff (described as of it, conditioned on not paid before it) and those
    raised during the weeks (as of their issue date): what the forecast shown each Monday adds up to."""
    day = np.datetime64(cutoff.date(), "D")
    end = day + np.timedelta64(7 * CASH_WEEKS, "D")
    X_open, m_open = scoring_rows(invoices, cutoff, late_days=late_days, events=events)
    new = ((m_all["moment"] >= cutoff) & (m_all["issued_on"] < end)).to_numpy()
    X = pd.concat([X_open, X_all[new]])
    meta = pd.concat([m_open, m_all[new]])
    due = meta["due_on"].to_numpy("datetime64[D]")
    since = (day - due).astype(np.int64).astype(np.float64)
    at_least = np.concatenate([since[: len(m_open)], np.full(int(new.sum()), -np.inf)])
    dates = PayDates.of(predictor.quantiles(X), at_least)
    amount = meta["amount"].to_numpy(np.float64)
    paid = meta["paid_on"].to_numpy("datetime64[D]")
    expected, spread, actual = [], [], []
    for k in range(CASH_WEEKS):
        p = dates.paid_between(since + 7 * k, since + 7 * (k + 1))
        expected.append(float(amount @ p))
        spread.append(float(np.sqrt((amount**2) @ (p * (1 - p)))))
        start = day + np.timedelta64(7 * k, "D")
        actual.append(float(amount[(paid >= start) & (paid < start + np.timedelta64(7, "D"))].sum()))
    expected_w, actual_w = np.array(expected), np.array(actual)
    # The band: a normal approximation of a sum of independent invoices (it understates the spread
    # when many customers slip together).
    low, high = expected_w - Z90 * np.array(spread), expected_w + Z90 * np.array(spread)
    return {
        "cash_weeks": CASH_WEEKS,
        "cash_invoices": int(len(meta)),
        "cash_wape": float(np.abs(actual_w - expected_w).sum() / actual_w.sum()) if actual_w.sum() else float("nan"),
        "cash_band_hits": int(((actual_w >= low) & (actual_w <= high)).sum()),
        "cash_expected": expected,
        "cash_actual": actual,
    }


def mixed_history(invoices: pd.DataFrame, cutoff: pd.Timestamp, tested: pd.DataFrame) -> list[str]:
    """What says the figures may not mean what they seem: the ledger holding two histories (a long
    stretch with no invoice issued: a demo beside an imported archive, say), or test invoices
    mostly of customers the model could know nothing about at the cutoff."""
    warnings = []
    days = np.unique(invoices["issued_on"].dropna().to_numpy("datetime64[D]"))
    if len(days) > 1:
        gaps = np.diff(days).astype(np.int64)
        widest = int(np.argmax(gaps))
        if gaps[widest] > HISTORY_GAP_DAYS:
            warnings.append(
                f"no invoice was issued between {days[widest]} and {days[widest + 1]} "
                f"({gaps[widest]} days): this database seems to hold two histories (a demo beside "
                "an import, say), and a backtest across them measures neither; back-test a database "
                "that holds one"
            )
    known = invoices.loc[invoices["issued_on"] < cutoff, "customer_id"].unique()
    unknown = ~tested["customer_id"].isin(known)
    if len(tested) and unknown.mean() > 0.5:
        warnings.append(
            f"{int(unknown.sum())} of the {len(tested)} test invoices are of "
            f"{plural(tested.loc[unknown, 'customer_id'].nunique(), 'customer')} with no invoice before the "
            "cutoff: the model is judged mostly on customers it knew nothing about"
        )
    return warnings


def _curves(y, p) -> dict:
    if len(np.unique(y)) < 2:
        return {}
    fpr, tpr, _ = roc_curve(y, p)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "predicted": predicted.tolist(),
        "observed": observed.tolist(),
    }


def plot(result: dict, path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (roc, cal) = plt.subplots(1, 2, figsize=(10, 4.5))
    for name, style in (("model", "-"), ("baseline", "--")):
        c = result["curves"].get(name) or {}
        if not c:
            continue
        auc = result["auc"] if name == "model" else result["baseline_auc"]
        roc.plot(c["fpr"], c["tpr"], style, label=f"{name} (AUC {auc:.3f})")
        cal.plot(c["predicted"], c["observed"], style + "o", ms=3, label=name)
    for ax in (roc, cal):
        ax.plot([0, 1], [0, 1], ":", color="grey", lw=1)
        ax.legend(loc="lower right")
    roc.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    cal.set(title="Calibration", xlabel="predicted probability of late", ylabel="observed share late")
    fig.suptitle(
        f"cutoff {result['cutoff']}, late = more than {result['late_days']} days after due; "
        f"train {result['n_train']}, test {result['n_test']}"
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def load_ibm_csv(path) -> pd.DataFrame:
    """The IBM accounts-receivable sample in our input format. Every invoice in it is settled.

    PaperlessBill and Disputed are left out on purpose: the first is not a ledger field, the
    second is only known after the invoice is raised."""
    raw = pd.read_csv(path, dtype={"customerID": str, "invoiceNumber": str})

    def day(col: str) -> pd.Series:
        return pd.to_datetime(raw[col], format="%m/%d/%Y").astype("datetime64[ns]")

    return pd.DataFrame(
        {
            "customer_id": pd.factorize(raw["customerID"])[0].astype(np.int64),
            "invoice_id": raw["invoiceNumber"].astype(np.int64),
            "issued_on": day("InvoiceDate"),
            "due_on": day("DueDate"),
            "paid_on": day("SettledDate"),
            "amount": raw["InvoiceAmount"].astype(np.float64),
            "currency": "USD",
        }
    )
