"""The payment-date distribution: its quantiles are the ones given, and conditioning on "still open
today" moves the expected date forward without losing any probability."""

import numpy as np
import pytest

from dunning.scoring.paydates import PayDates


def test_the_unconditioned_quantiles_are_the_ones_given():
    q = np.array([[-10.0, -2.0, 15.0], [0.0, 0.0, 0.0], [5.0, 30.0, 31.0]])
    dates = PayDates.of(q)
    low, high = dates.band()
    assert dates.median() == pytest.approx(q[:, 1])
    assert low[[0, 2]] == pytest.approx(q[[0, 2], 0])
    assert high[[0, 2]] == pytest.approx(q[[0, 2], 2])
    assert (high[1] - low[1]) > 1.0  # a zero-width band is widened: no history gives certainty


def test_crossing_quantiles_are_sorted():
    dates = PayDates.of(np.array([[9.0, 1.0, 4.0]]))
    assert (dates.q10[0], dates.q50[0], dates.q90[0]) == (1.0, 4.0, 9.0)


def test_an_invoice_open_past_its_median_is_expected_later_not_in_the_past():
    q = np.array([[-5.0, 0.0, 10.0]] * 2)
    dates = PayDates.of(q, at_least=np.array([-np.inf, 20.0]))
    median = dates.median()
    assert median[0] == pytest.approx(0.0)
    assert median[1] > 20.0
    assert dates.cdf(19.0)[1] == 0.0
    assert dates.band()[0][1] >= 20.0


@pytest.mark.parametrize("floor", [-np.inf, -3.0, 12.0, 60.0])
def test_windows_that_tile_the_line_share_out_the_whole_amount(floor):
    dates = PayDates.of(np.array([[-8.0, 1.0, 25.0]]), at_least=floor)
    edges = np.concatenate([[-np.inf], np.arange(-30.0, 400.0, 7.0), [np.inf]])
    shares = [dates.paid_between(a, b)[0] for a, b in zip(edges[:-1], edges[1:])]
    assert sum(shares) == pytest.approx(1.0)
    assert min(shares) >= 0.0
