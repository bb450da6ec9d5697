from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dunning.scoring.baseline import Baseline


def test_smoothed_prior_late_rate():
    b = Baseline.fit(np.array([1, 0, 0, 0]), strength=2.0)  # prior 0.25
    X = pd.DataFrame({"n_settled": [0, 4, 10], "late_rate": [np.nan, 1.0, 0.1]})
    p = b.predict_proba(X)
    assert p == pytest.approx([0.25, (4 + 0.5) / 6, (1 + 0.5) / 12])
    # More evidence moves the estimate further from the prior.
    many = b.predict_proba(pd.DataFrame({"n_settled": [40], "late_rate": [1.0]}))[0]
    assert many > p[1]


def test_baseline_says_it_is_the_baseline():
    b = Baseline(prior=0.2, late_days=15)
    reasons = b.reasons(pd.DataFrame({"n_settled": [0, 5], "late_rate": [np.nan, 0.4]}))
    assert all(r[0].startswith("baseline:") for r in reasons)
    assert "new customer" in reasons[0][0]
    assert "paid 2 of 5 earlier invoices more than 15 days late" in reasons[1][0]
