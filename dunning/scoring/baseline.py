"""The transparent baseline: a customer's own late rate, pulled towards everyone's.

It scores until the deployment has enough history to train a model, and it is the bar every
model must clear. A customer with no settled invoices gets the overall rate; each settled
invoice moves the estimate a little further towards the customer's own record:

    p = (late + strength * prior) / (settled + strength)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Baseline:
    prior: float  # overall late rate of the training rows
    strength: float = 2.0  # worth of the prior, in invoices
    late_days: int = 15

    @classmethod
    def fit(cls, y, *, strength: float = 2.0, late_days: int = 15) -> Baseline:
        y = np.asarray(y, dtype=np.float64)
        return cls(prior=float(y.mean()) if len(y) else 0.0, strength=strength, late_days=late_days)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        settled, late = _history(X)
        return (late + self.strength * self.prior) / (settled + self.strength)

    def reasons(self, X: pd.DataFrame) -> list[list[str]]:
        settled, late = _history(X)
        out = []
        for n, k in zip(settled.astype(int), np.rint(late).astype(int)):
            if n == 0:
                text = f"baseline: new customer, no payment history yet (overall late rate {self.prior:.0%})"
            else:
                text = f"baseline: paid {k} of {n} earlier invoices more than {self.late_days} days late"
            out.append([text])
        return out

    def to_dict(self) -> dict:
        return {"prior": self.prior, "strength": self.strength, "late_days": self.late_days}


def _history(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    settled = X["n_settled"].to_numpy(np.float64)
    late = np.nan_to_num(X["late_rate"].to_numpy(np.float64)) * settled
    return settled, late
