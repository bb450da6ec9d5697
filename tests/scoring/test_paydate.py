"""The payment-date model: its features know only the past, open invoices are censored (never
labelled as paid), and on the IBM sample it meets the issue's goals."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from dunning.scoring import features, paydate
from dunning.scoring.backtest import load_ibm_csv, pay_date_backtest
from dunning.scoring.features import PAY_FEATURES, SHORT, payment_rows
from dunning.simulation import generate_portfolio
from tests.datasets import IBM, needs_ibm

CUT = pd.Timestamp("2023-06-01")


@pytest.fixture(scope="module")
def portfolio():
    p = generate_portfolio(150, 14, date(2022, 1, 1), date(2023, 12, 31), seed=7)
    return p.ledger(), p.scoring_events()


def hand_count(invoices: pd.DataFrame, row: pd.Series, window: int) -> dict[str, float]:
    """The new features of one invoice as of its issue date, the slow way."""
    mine = invoices[
        (invoices["customer_id"] == row["customer_id"])
        & (invoices["currency"] == row["currency"])
        & (invoices["paid_on"] < row["issued_on"])
    ].sort_values(["paid_on", "invoice_id"])
    late = (mine["paid_on"] - mine["due_on"]).dt.days.to_numpy(np.float64)
    to_pay = (mine["paid_on"] - mine["issued_on"]).dt.days.to_numpy(np.float64)
    window, pay_window = late[-window:], to_pay[-window:]
    nan = float("nan")
    return {
        "pos_mean_days_late": np.maximum(late, 0).mean() if len(late) else nan,
        "pos_recent_days_late": np.maximum(late[-SHORT:], 0).mean() if len(late) else nan,
        "q10_days_late": np.quantile(window, 0.1) if len(late) else nan,
        "median_days_late": np.median(window) if len(late) else nan,
        "q90_days_late": np.quantile(window, 0.9) if len(late) else nan,
        "median_days_to_pay": np.median(pay_window) if len(late) else nan,
        "issue_dow": row["issued_on"].day_of_week,
        "due_dow": row["due_on"].day_of_week,
    }


@pytest.mark.parametrize("window", [features.HISTORY_WINDOW, 5])
def test_the_payment_date_features_match_a_hand_count(portfolio, monkeypatch, window):
    invoices, events = portfolio
    monkeypatch.setattr(features, "HISTORY_WINDOW", window)
    X, _ = payment_rows(invoices, events=events)
    assert list(X.columns[-len(PAY_FEATURES) :]) == PAY_FEATURES
    rng = np.random.default_rng(11)
    # Rows with a history longer than the window too, so that the window cuts.
    long = X.index[X["n_settled"] > 5]
    assert len(long) > 20
    for idx in np.concatenate([rng.choice(X.index, 40, replace=False), rng.choice(long, 20, replace=False)]):
        expect = hand_count(invoices, invoices.loc[idx], window)
        np.testing.assert_allclose(
            X.loc[idx, list(expect)].to_numpy(np.float64), list(expect.values()), atol=1e-9, err_msg=str(idx)
        )


def known_at(invoices: pd.DataFrame, events: dict, moment: pd.Timestamp):
    inv = invoices[invoices["issued_on"] < moment].copy()
    inv.loc[inv["paid_on"] >= moment, "paid_on"] = pd.NaT
    ev = {name: t[t["at"] < moment] for name, t in events.items() if name != "promises"}
    ev["promises"] = events["promises"][events["promises"]["due"] < moment]
    return inv, ev


def test_training_rows_recomputed_with_the_future_removed_are_the_same(portfolio):
    """Rows and labels as of the cutoff from the whole ledger, and from the ledger as a clerk knew it
    then (later invoices gone, later payments not made, later conversations not had)."""
    invoices, events = portfolio
    X, meta = payment_rows(invoices, events=events, as_of=CUT)
    inv, ev = known_at(invoices, events, CUT)
    X2, meta2 = payment_rows(inv, events=ev, as_of=CUT)
    pd.testing.assert_frame_equal(X, X2)
    for column in ("invoice_id", "days_late", "late_so_far"):
        np.testing.assert_array_equal(meta[column].to_numpy(), meta2[column].to_numpy())
    open_then = meta["days_late"].isna()
    assert open_then.sum() > 50 and (meta.loc[open_then, "paid_on"].dropna() >= CUT).all()


def test_an_open_invoice_is_never_labelled_as_paid(portfolio):
    invoices, events = portfolio
    X, meta = payment_rows(invoices, events=events, as_of=CUT)
    labels = paydate.Labels.of(meta)
    assert labels.censored.sum() > 50
    pseudo = paydate.pseudo_labels(X, labels)
    lower = labels.lower[labels.censored][:, None]
    assert pseudo.shape == (labels.censored.sum(), paydate.PSEUDO_ROWS)
    assert (pseudo >= lower).all()  # paid on the training day at the earliest
    assert (pseudo > lower + 0.5).mean() > 0.95  # and, nearly always, some time after it
    assert (np.diff(pseudo, axis=1) >= 0).all()  # k/(K+1) quantiles, in order

    Xn, y, w = paydate.impute_censored(X, labels)
    assert len(Xn) == (~labels.censored).sum() + paydate.PSEUDO_ROWS * labels.censored.sum()
    assert w.sum() == pytest.approx(len(X))  # each open invoice weighs as one
    ids = meta["invoice_id"].to_numpy()
    imputed = pd.Series(y, index=np.concatenate([ids[~labels.censored]] + [ids[labels.censored]] * 5))
    so_far = pd.Series(labels.lower, index=ids)[labels.censored]
    assert (imputed.loc[so_far.index].groupby(level=0).min() >= so_far.sort_index()).all()

    # Known at an earlier day: what was paid after it is open again, censored at that day.
    day = np.datetime64("2023-03-01")
    earlier = labels.as_known_at(meta, day)
    paid_later = (~labels.censored) & (meta["paid_on"].to_numpy("datetime64[D]") >= day)
    assert paid_later.any() and earlier.censored[paid_later].all()
    due = meta["due_on"].to_numpy("datetime64[D]")
    assert (earlier.lower[paid_later] == (day - due[paid_later]).astype(np.int64)).all()


def test_the_baseline_is_the_customers_history_pulled_towards_everyones():
    base = paydate.PayDateBaseline.fit([-5, 0, 0, 2, 30])
    X = pd.DataFrame(
        {
            "n_settled": [0, 8],
            "q10_days_late": [np.nan, 10],
            "median_days_late": [np.nan, 20],
            "q90_days_late": [np.nan, 40],
        }
    )
    q = base.quantiles(X)
    overall = np.quantile([-5, 0, 0, 2, 30], [0.1, 0.5, 0.9])
    np.testing.assert_allclose(q[0], overall)
    np.testing.assert_allclose(q[1], (8 * np.array([10, 20, 40]) + 2 * overall) / 10)


@pytest.fixture(scope="module")
def ibm_result():
    return pay_date_backtest(load_ibm_csv(IBM), pd.Timestamp("2013-07-01"), late_days=15, events=None)


@needs_ibm
def test_ibm_payment_dates_meet_the_issues_goals(ibm_result):
    r = ibm_result
    assert r["pay_date_model"] == "model"
    assert r["days_late_mae"] <= 1.9  # predicting 0: 2.285; each customer's mean: 2.706
    assert r["days_late_mae"] < r["days_late_mae_baseline"] - 0.05
    assert 0.70 <= r["coverage"] <= 0.90
    assert r["cash_wape"] < 0.15 and r["cash_band_hits"] >= 9 and r["cash_invoices"] == 406
