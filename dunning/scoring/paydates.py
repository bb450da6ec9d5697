"""When an open invoice will be paid: a distribution of its days late, conditioned on today.

A payment-date predictor (the trained model, or the transparent baseline until there is enough
history) gives, for each open invoice, three quantiles of its *signed* days late (payment date
minus due date; negative when paid early): the 10th, 50th and 90th percentiles, the band already
calibrated. Everything the service shows (the expected date, its band, the chance of being paid
within N days, cash per week) comes from those three numbers through this module, so the
forecast, the worklist and the backtest read them the same way.

The distribution is a two-piece ("split") normal with exactly those quantiles: below the median
its spread comes from q50 - q10, above it from q90 - q50. Skewed payment behaviour (most pay
around the due date, a few very late) keeps its shape, and everything has a closed form.

An invoice still open today was not paid before today: each figure is conditioned on that,
F(y | Y >= s) = (F(y) - F(s)) / (1 - F(s)), so an invoice whose median date has passed moves
forward instead of being expected in the past.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

Z90 = float(norm.ppf(0.9))
MIN_SPREAD = 0.5  # days: a band of zero width would claim certainty no history gives
_EPS = 1e-9


@dataclass(frozen=True)
class PayDates:
    """Quantiles of signed days late for n invoices, each conditioned on not being paid before
    `at_least` days late (-inf for an invoice not yet issued or not yet known to be late)."""

    q10: np.ndarray
    q50: np.ndarray
    q90: np.ndarray
    at_least: np.ndarray

    @classmethod
    def of(cls, quantiles: np.ndarray, at_least: np.ndarray | float = -np.inf) -> PayDates:
        """`quantiles` has shape (n, 3); crossing quantiles are sorted, never trusted as given."""
        q = np.sort(np.asarray(quantiles, dtype=np.float64).reshape(-1, 3), axis=1)
        floor = np.broadcast_to(np.asarray(at_least, dtype=np.float64), (len(q),)).copy()
        return cls(q[:, 0], q[:, 1], q[:, 2], floor)

    def __len__(self) -> int:
        return len(self.q50)

    @property
    def _spreads(self) -> tuple[np.ndarray, np.ndarray]:
        low = np.maximum((self.q50 - self.q10) / Z90, MIN_SPREAD)
        high = np.maximum((self.q90 - self.q50) / Z90, MIN_SPREAD)
        return low, high

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        low, high = self._spreads
        return np.asarray(norm.cdf((x - self.q50) / np.where(x < self.q50, low, high)))

    def _ppf(self, u: np.ndarray) -> np.ndarray:
        low, high = self._spreads
        u = np.clip(u, _EPS, 1 - _EPS)
        return np.asarray(self.q50 + norm.ppf(u) * np.where(u < 0.5, low, high))

    def _paid_before_floor(self) -> np.ndarray:
        return self._cdf(self.at_least)  # norm.cdf(-inf) is 0: no floor, nothing conditioned away

    def cdf(self, days_late: np.ndarray | float) -> np.ndarray:
        """P(paid at or before `days_late` | not paid before the floor), per invoice."""
        x = np.broadcast_to(np.asarray(days_late, dtype=np.float64), (len(self),))
        f0 = self._paid_before_floor()
        return np.asarray(np.clip((self._cdf(x) - f0) / np.maximum(1 - f0, _EPS), 0.0, 1.0))

    def quantile(self, p: float) -> np.ndarray:
        """The conditional p-quantile of days late, never before the floor."""
        f0 = self._paid_before_floor()
        return np.asarray(np.maximum(self._ppf(f0 + p * (1 - f0)), self.at_least))

    def median(self) -> np.ndarray:
        """The expected days late: the conditional median, the date shown as "expected"."""
        return self.quantile(0.5)

    def band(self) -> tuple[np.ndarray, np.ndarray]:
        """The conditional 10-90 % band of days late."""
        return self.quantile(0.1), self.quantile(0.9)

    def paid_between(self, start: np.ndarray | float, end: np.ndarray | float) -> np.ndarray:
        """P(paid between `start` and `end` days late), per invoice: the share of its amount expected
        in that window. Windows that tile the line add up to 1 for each invoice."""
        return np.asarray(np.clip(self.cdf(end) - self.cdf(start), 0.0, 1.0))
