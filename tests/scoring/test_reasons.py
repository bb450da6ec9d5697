from __future__ import annotations

import numpy as np
import pandas as pd

from dunning.scoring.features import FEATURES
from dunning.scoring.reasons import NEW_CUSTOMER, describe, sentence


def row(**values):
    base = {f: 0.0 for f in FEATURES}
    base.update(n_settled=8, n_invoices=9, late_rate=0.25, recent_late_rate=0.2, amount_ratio=1.0, due_month=3)
    base.update(values)
    return base


def test_sentences_carry_the_rows_own_numbers():
    assert (
        sentence("recent_late_rate", row(recent_late_rate=0.8))
        == "paid 4 of the last 5 invoices more than 15 days late"
    )
    assert (
        sentence("late_rate", row(n_settled=12, late_rate=0.5), late_days=30)
        == "paid 6 of 12 earlier invoices more than 30 days late"
    )
    assert (
        sentence("late_rate", row(n_settled=3, late_rate=1 / 3), late_days=0)
        == "paid 1 of 3 earlier invoices after the due date"
    )
    assert sentence("open_balance_ratio", row(open_balance_ratio=3.04)) == "open balance 3.0x the usual invoice"
    assert sentence("amount_ratio", row(amount_ratio=2.5)) == "invoice 2.5x the customer's usual amount"
    assert sentence("last_days_late", row(last_days_late=23)) == "paid the last invoice 23 days late"
    assert sentence("last_days_late", row(last_days_late=-1)) == "paid the last invoice 1 day early"
    assert sentence("overdue_count", row(overdue_count=2)) == "2 other invoices already overdue"
    assert sentence("promises_broken", row(promises_broken=1)) == "broke 1 promise to pay"
    assert sentence("due_month", row(due_month=12)) == "due in December, when payments tend to slow"
    assert sentence("late_trend", row(recent_late_rate=0.6, late_trend=0.4)) == (
        "paying later lately: 60% of the last 5 invoices more than 15 days late, against 20% before"
    )


def test_no_history_says_so():
    fresh = row(
        n_settled=0, n_invoices=0, late_rate=np.nan, recent_late_rate=np.nan, mean_days_late=np.nan, amount_ratio=np.nan
    )
    for f in ("late_rate", "recent_late_rate", "mean_days_late", "n_settled", "amount_ratio"):
        assert sentence(f, fresh) == NEW_CUSTOMER
    assert sentence("n_invoices", fresh) == "first invoice to this customer"


def test_every_feature_has_words():
    typical = row(
        mean_days_late=12,
        std_days_late=9,
        ewm_days_late=14,
        max_days_late=40,
        last_days_late=20,
        mean_days_to_pay=44,
        late_trend=0.2,
        recent_days_late=15,
        days_late_trend=6,
        days_since_payment=35,
        open_count=2,
        open_balance_ratio=2.0,
        overdue_balance_ratio=1.0,
        overdue_count=1,
        amount=1234.5,
        term_days=30,
        tenure_days=400,
        disputes=1,
        promises_kept=1,
        promises_broken=2,
        replies=3,
    )
    for f in FEATURES:
        text = sentence(f, typical)
        assert text and text != f and "nan" not in text, (f, text)


def test_describe_merges_duplicates_and_keeps_order():
    X = pd.DataFrame([row(n_settled=0, late_rate=np.nan, mean_days_late=np.nan, open_balance_ratio=4.0)])
    out = describe(X, [[("late_rate", 0.9), ("mean_days_late", 0.5), ("open_balance_ratio", 0.2)]])
    assert out == [[NEW_CUSTOMER, "open balance 4.0x the usual invoice"]]
