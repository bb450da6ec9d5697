from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from dunning.scoring.backtest import backtest
from dunning.simulation import generate_portfolio

START, END = date(2022, 1, 1), date(2024, 1, 1)


def test_same_seed_same_portfolio_and_plausible_fields():
    a = generate_portfolio(300, 8, START, END, seed=4)
    b = generate_portfolio(300, 8, START, END, seed=4)
    pd.testing.assert_frame_equal(a.invoices, b.invoices)
    pd.testing.assert_frame_equal(a.customers, b.customers)
    assert not generate_portfolio(300, 8, START, END, seed=5).invoices.equals(a.invoices)

    c, inv = a.customers, a.invoices
    assert c["external_id"].is_unique and inv["external_id"].is_unique and c["email"].is_unique
    assert c["phone"].map(lambda s: re.fullmatch(r"\+[1-9]\d{9,13}", s) is not None).all()
    assert set(c["language"]) == {"en", "fr"} and set(c["country"]) == {"GB", "FR", "US", "DE"}
    assert set(c["kind"]) == {"business", "consumer"}
    assert (c.loc[c["country"] == "FR", "language"] == "fr").all()
    assert inv["customer_external_id"].isin(c["external_id"]).all()
    assert (inv["issued_on"] >= pd.Timestamp(START)).all() and (inv["issued_on"] < pd.Timestamp(END)).all()
    assert (inv["due_on"] > inv["issued_on"]).all()
    paid = inv["paid_on"].notna()
    assert (inv.loc[paid, "paid_on"] >= inv.loc[paid, "issued_on"]).all() and (
        inv.loc[paid, "paid_on"] < pd.Timestamp(END)
    ).all()
    assert (inv.loc[paid, "balance_minor"] == 0).all() and (
        inv.loc[~paid, "balance_minor"] == inv.loc[~paid, "total_minor"]
    ).all()
    assert inv["total_minor"].dtype == np.int64 and (inv["total_minor"] > 0).all()
    assert len(inv) / len(c) == pytest.approx(8, abs=1.0)


def test_payer_types_behave_as_documented():
    p = generate_portfolio(2000, 10, START, END, seed=2, reminder_effect=0.0, seasonal_delay=0.0)
    inv = p.invoices.merge(
        p.customers[["external_id", "payer_type"]], left_on="customer_external_id", right_on="external_id"
    )
    late = (inv["paid_on"] - inv["due_on"]).dt.days
    by_type = late.groupby(inv["payer_type"]).median()
    assert by_type["prompt"] < 0 < by_type["slow"] < by_type["chronic"]
    open_share = inv["paid_on"].isna().groupby(inv["payer_type"]).mean()
    assert open_share["defaulter"] > 3 * open_share["prompt"]
    # Reminders pull late payments forward.
    with_reminders = generate_portfolio(2000, 10, START, END, seed=2, reminder_effect=0.6, seasonal_delay=0.0).invoices
    late_r = (with_reminders["paid_on"] - with_reminders["due_on"]).dt.days
    assert (late_r > 21).mean() < (late > 21).mean()


def test_model_beats_the_baseline_on_a_later_period():
    # Deteriorating and amount-sensitive payers are late in ways the plain late rate only sees
    # afterwards; the model has trend and amount features to catch them in time.
    p = generate_portfolio(800, 12, START, END, seed=1)
    r = backtest(p.ledger(), "2023-07-01", events=p.scoring_events())
    assert r["n_test"] > 1000 and r["n_train"] > 2000
    assert r["auc"] > r["baseline_auc"] + 0.03
    assert r["pr_auc"] > r["baseline_pr_auc"] and r["brier"] < r["baseline_brier"]
