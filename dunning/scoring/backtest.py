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

from dunning.scoring.baseline import Baseline
from dunning.scoring.features import training_rows
from dunning.scoring.model import metrics, train
from dunning.words import plural

HISTORY_GAP_DAYS = 365  # a business that invoiced at all issues an invoice at least once a year


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
        "curves": {"model": _curves(y_te, p_model), "baseline": _curves(y_te, p_base)},
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
