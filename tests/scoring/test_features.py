"""Features must only know the past, and must say what a slow hand count would say."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from dunning.scoring.features import (
    EWM_DECAY,
    FEATURES,
    PAY_FEATURES,
    RECENT,
    features_at,
    scoring_rows,
    training_rows,
)
from dunning.simulation import generate_portfolio


@pytest.fixture(scope="module")
def portfolio():
    p = generate_portfolio(120, 14, date(2022, 1, 1), date(2023, 12, 31), seed=7)
    return p.ledger(), p.scoring_events()


def known_at(invoices: pd.DataFrame, events: dict, moment: pd.Timestamp, keep_id: int):
    """What a ledger clerk had in front of them at the start of `moment`: later invoices gone,
    later payments not yet made, later conversations not yet had, undecided promises undecided.
    The invoice being described (issued that day) is kept, unpaid."""
    inv = invoices[(invoices["issued_on"] < moment) | (invoices["invoice_id"] == keep_id)].copy()
    inv.loc[inv["paid_on"] >= moment, "paid_on"] = pd.NaT
    ev = {}
    for name, t in events.items():
        t = t[t["at"] < moment].copy()
        if name == "promises":
            t["kept"] = t["kept"].astype("boolean")
            t.loc[t["due"] >= moment, "kept"] = pd.NA
        ev[name] = t
    return inv, ev


def test_training_rows_only_use_what_was_known_at_their_moment(portfolio):
    invoices, events = portfolio
    X, _, meta = training_rows(invoices, events=events)
    rng = np.random.default_rng(3)
    for idx in rng.choice(X.index, size=30, replace=False):
        moment = meta.loc[idx, "moment"]
        inv, ev = known_at(invoices, events, moment, meta.loc[idx, "invoice_id"])
        again = features_at(inv, inv["issued_on"].to_numpy(), events=ev).loc[idx]
        np.testing.assert_allclose(again.to_numpy(), X.loc[idx].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=str(idx))


def test_rewriting_the_future_leaves_past_rows_alone(portfolio):
    invoices, events = portfolio
    cut = pd.Timestamp("2023-03-01")
    X, _, meta = training_rows(invoices, events=events)

    future = invoices.copy()
    later = future["paid_on"] >= cut
    future.loc[later, "paid_on"] = future.loc[later, "paid_on"] + pd.Timedelta(days=40)
    future.loc[future["issued_on"] >= cut, "amount"] *= 7
    extra = future[future["issued_on"] >= cut].assign(invoice_id=lambda d: d["invoice_id"] + 10**6)
    extra.index = extra.index + 10**6
    future = pd.concat([future, extra])
    fev = {k: t.copy() for k, t in events.items()}
    fev["disputes"] = pd.concat([fev["disputes"], pd.DataFrame({"customer_id": [0, 1, 2], "at": [cut] * 3})])

    X2, _, meta2 = training_rows(future, events=fev)
    past = meta.index[meta["moment"] < cut]
    assert len(past) > 200 and past.isin(X2.index).all()
    pd.testing.assert_frame_equal(X.loc[past], X2.loc[past])
    # ...and the change did reach rows after it, so the comparison above could have failed.
    after = meta.index[meta["moment"] > cut].intersection(X2.index)
    assert not X.loc[after].equals(X2.loc[after])


def reference_row(invoices: pd.DataFrame, events: dict, row: pd.Series, moment: pd.Timestamp, late_days: int) -> dict:
    """The slow, obvious count for one row."""
    acct = invoices[(invoices["customer_id"] == row["customer_id"]) & (invoices["currency"] == row["currency"])]
    acct = acct[acct["invoice_id"] != row["invoice_id"]]
    settled = acct[acct["paid_on"] < moment].sort_values(["paid_on", "invoice_id"])
    late = (settled["paid_on"] - settled["due_on"]).dt.days.to_numpy()
    earlier = acct[acct["issued_on"] < moment]
    is_open = earlier[~(earlier["paid_on"] < moment)]
    overdue = is_open[is_open["due_on"] < moment]
    usual = earlier["amount"].mean() if len(earlier) else np.nan
    first = earlier["issued_on"].min()
    out = {
        "n_settled": len(settled),
        "late_rate": (late > late_days).mean() if len(late) else np.nan,
        "mean_days_late": late.mean() if len(late) else np.nan,
        "std_days_late": late.std() if len(late) else np.nan,
        "max_days_late": late.max() if len(late) else np.nan,
        "last_days_late": late[-1] if len(late) else np.nan,
        "recent_late_rate": (late[-RECENT:] > late_days).mean() if len(late) else np.nan,
        "open_count": len(is_open),
        "overdue_count": len(overdue),
        "open_balance_ratio": is_open["amount"].sum() / usual if len(earlier) else np.nan,
        "amount_ratio": row["amount"] / usual if len(earlier) else np.nan,
        "n_invoices": len(earlier),
        "tenure_days": (moment - first).days if pd.notna(first) else 0,
        "term_days": (row["due_on"] - row["issued_on"]).days,
        "disputes": int(
            ((events["disputes"]["customer_id"] == row["customer_id"]) & (events["disputes"]["at"] < moment)).sum()
        ),
    }
    if len(late):
        w = EWM_DECAY ** np.arange(len(late))[::-1]
        out["ewm_days_late"] = (w * late).sum() / w.sum()
    else:
        out["ewm_days_late"] = np.nan
    pr = events["promises"]
    pr = pr[(pr["customer_id"] == row["customer_id"]) & (pr["due"] < moment)]
    out["promises_broken"] = int((pr["kept"].astype("boolean") == False).fillna(False).sum())  # noqa: E712
    return out


def test_vectorized_features_match_a_hand_count(portfolio):
    invoices, events = portfolio
    # A second currency for some customers: balances must not mix.
    eur = invoices.sample(frac=0.1, random_state=1).assign(currency="EUR")
    eur["invoice_id"] += 10**6
    inv = pd.concat([invoices, eur], ignore_index=True)
    X, _, meta = training_rows(inv, late_days=10, events=events)
    rng = np.random.default_rng(5)
    for idx in rng.choice(X.index, size=60, replace=False):
        expect = reference_row(inv, events, inv.loc[idx], meta.loc[idx, "moment"], late_days=10)
        got = X.loc[idx, list(expect)].to_numpy(np.float64)
        np.testing.assert_allclose(
            got,
            np.array(list(expect.values()), dtype=np.float64),
            rtol=1e-9,
            atol=1e-9,
            err_msg=f"{idx}: {list(expect)}",
        )


def ledger(rows):
    df = pd.DataFrame(rows, columns=["customer_id", "invoice_id", "issued_on", "due_on", "paid_on", "amount"])
    for c in ("issued_on", "due_on", "paid_on"):
        df[c] = pd.to_datetime(df[c])
    df["currency"] = "EUR"
    return df


def test_labels_and_which_rows_are_known():
    inv = ledger(
        [
            (1, 1, "2024-01-01", "2024-01-31", "2024-02-10", 100.0),  # 10 days late: on time for N=15
            (1, 2, "2024-02-01", "2024-03-02", "2024-03-30", 100.0),  # 28 days late
            (1, 3, "2024-03-01", "2024-03-31", None, 100.0),  # unpaid, due + 15 < as_of: late
            (1, 4, "2024-04-01", "2024-05-01", "2024-04-20", 100.0),  # paid early but not matured
            (1, 5, "2024-04-10", "2024-05-10", None, 100.0),  # unknown yet
            (1, 6, "2024-06-01", "2024-07-01", None, 100.0),  # issued after as_of
        ]
    )
    X, y, meta = training_rows(inv, as_of="2024-05-01")
    assert meta["invoice_id"].tolist() == [1, 2, 3]
    assert y.tolist() == [0, 1, 1]
    _, y_all, meta_all = training_rows(inv, as_of="2024-05-01", matured_only=False)
    assert meta_all["invoice_id"].tolist() == [1, 2, 3, 4]
    assert y_all.tolist() == [0, 1, 1, 0]
    _, y0, _ = training_rows(inv, as_of="2024-05-01", late_days=0)
    assert y0.tolist() == [1, 1, 1]
    # Invoice 3 as of its issue date: invoice 2 is open and not yet due, invoice 1 paid 10 days late.
    row = X.loc[meta.index[meta["invoice_id"] == 3][0]]
    assert row["n_settled"] == 1 and row["last_days_late"] == 10 and row["open_count"] == 1
    assert row["overdue_count"] == 0 and row["late_rate"] == 0 and row["paid_after_due_rate"] == 1


def test_scoring_rows_a_date_is_the_start_of_the_day_a_timestamp_sees_it():
    inv = ledger(
        [
            (1, 1, "2024-01-01", "2024-01-31", "2024-02-20", 100.0),
            (1, 2, "2024-02-01", "2024-03-02", "2024-03-10", 300.0),  # paid on the scoring day
            (1, 3, "2024-02-15", "2024-03-16", None, 200.0),
            (2, 4, "2024-03-10", "2024-04-09", None, 50.0),  # issued on the scoring day
        ]
    )
    X, meta = scoring_rows(inv, date(2024, 3, 10))
    assert meta["invoice_id"].tolist() == [2, 3]
    three = X.loc[meta.index[meta["invoice_id"] == 3][0]]
    assert three["open_count"] == 1 and three["overdue_count"] == 1  # invoice 2, still unpaid as far as we know
    assert three["open_balance_ratio"] == pytest.approx(300 / 200)  # usual = mean(100, 300)

    X, meta = scoring_rows(inv, pd.Timestamp("2024-03-10 18:00"))
    assert meta["invoice_id"].tolist() == [3, 4]
    three = X.loc[meta.index[meta["invoice_id"] == 3][0]]
    assert three["open_count"] == 0 and three["n_settled"] == 2 and three["last_days_late"] == 8
    new = X.loc[meta.index[meta["invoice_id"] == 4][0]]
    assert new["n_settled"] == 0 and np.isnan(new["late_rate"]) and new["n_invoices"] == 0


def test_features_have_the_advertised_columns_and_no_self_knowledge(portfolio):
    invoices, events = portfolio
    X, y, meta = training_rows(invoices, events=events)
    assert list(X.columns) == FEATURES + PAY_FEATURES
    assert (meta["moment"] == meta["issued_on"]).all()
    # A row never counts itself: n_invoices excludes it, and nothing settled before issue.
    assert (X["n_settled"] <= X["n_invoices"]).all()
    with pytest.raises(ValueError):
        features_at(invoices, invoices["paid_on"].fillna(pd.Timestamp("2030-01-01")) + pd.Timedelta(days=1))
