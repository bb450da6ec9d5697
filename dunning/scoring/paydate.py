"""The payment-date model: when each invoice will be paid, as three quantiles of signed days late.

Rows are every invoice issued before the training moment, described as of its issue date
(features.payment_rows, the same builder as the risk model's). A paid invoice has an exact label,
its signed days late. An invoice still open is right-censored: it will be paid at least
`late_so_far` days late, and nothing more is known. Dropping those rows would keep only the early
payers; labelling them paid today would be wrong in the other direction. So a censoring model
(XGBoost `survival:aft`, on days from issue to payment) gives each open invoice a distribution
conditioned on "still open today", and the row is replaced by K pseudo-rows at the k/(K+1)
quantiles of that conditional distribution, each of weight 1/K: every one lies at or after the
training day, so an open invoice is never labelled as paid.

The quantile booster (`reg:quantileerror`, alphas 0.1/0.5/0.9 in one booster) learns from those.
Its 10-90 band is then widened by conformal calibration (CQR): delta is the 80 % quantile of
max(q10 - y, y - q90) on the newest outcomes of a rehearsal trained without them.

Recipe and parameters were chosen on time-honest validation folds of the IBM sample (before its
2013-07-01 test cutoff); see docs/architecture.md. Until a version carries a model that beat the
baseline on its rehearsal, `PayDateBaseline` predicts: each customer's own history quantiles,
pulled towards everyone's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy.stats import norm

from dunning.scoring.features import FEATURES
from dunning.scoring.model import PARAMS as RISK_PARAMS
from dunning.scoring.model import read_artifact, split_day

log = logging.getLogger(__name__)

# q10_days_late is built for the baseline only: the booster did not need it on the folds.
MODEL_FEATURES = FEATURES + [
    "pos_mean_days_late",
    "pos_recent_days_late",
    "median_days_late",
    "q90_days_late",
    "median_days_to_pay",
    "issue_dow",
    "due_dow",
]
ALPHAS = (0.1, 0.5, 0.9)
_TREES = {
    "tree_method": "hist",
    "max_depth": 2,
    "eta": 0.05,
    "min_child_weight": 5,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "nthread": RISK_PARAMS["nthread"],
    "seed": 0,
    "verbosity": 0,
}
PARAMS = {**_TREES, "objective": "reg:quantileerror", "quantile_alpha": list(ALPHAS)}
ROUNDS = 600
AFT_SIGMA = 0.3  # log-normal spread of days-to-pay in the censoring model
AFT_PARAMS = {
    **_TREES,
    "objective": "survival:aft",
    "aft_loss_distribution": "normal",
    "aft_loss_distribution_scale": AFT_SIGMA,
}
AFT_ROUNDS = 300
PSEUDO_ROWS = 5  # per censored invoice
COVERAGE = 0.8  # the 10-90 band
MIN_SETTLED = 200  # paid invoices before a model is trained at all
HOLDOUT_SHARE = 0.2
FORMAT = 1


@dataclass(frozen=True)
class Labels:
    """What is known of each row's payment: exact signed days late, or at least `lower` (censored)."""

    lower: np.ndarray
    censored: np.ndarray
    term: np.ndarray  # due - issued, to go between days late and days to pay

    @classmethod
    def of(cls, meta: pd.DataFrame) -> Labels:
        censored = meta["days_late"].isna().to_numpy()
        lower = np.where(censored, meta["late_so_far"].to_numpy(np.float64), meta["days_late"].to_numpy(np.float64))
        term = (meta["due_on"] - meta["issued_on"]).dt.days.to_numpy(np.float64)
        return cls(lower, censored, term)

    def __getitem__(self, rows: np.ndarray) -> Labels:
        return Labels(self.lower[rows], self.censored[rows], self.term[rows])

    def as_known_at(self, meta: pd.DataFrame, day: np.datetime64) -> Labels:
        """The same rows as they stood at `day`: a payment from `day` on was not known then."""
        paid = meta["paid_on"].to_numpy("datetime64[D]")
        due = meta["due_on"].to_numpy("datetime64[D]")
        known = ~self.censored & (paid < day)
        lower = np.where(known, self.lower, (day - due).astype(np.int64).astype(np.float64))
        return Labels(lower, ~known, self.term)


def _matrix(X: pd.DataFrame, features: list[str]) -> np.ndarray:
    return np.asarray(X[features].to_numpy(np.float32))


def impute_censored(X: pd.DataFrame, labels: Labels) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Training rows with each censored row replaced by PSEUDO_ROWS rows of weight 1/PSEUDO_ROWS, at
    quantiles of the censoring model's distribution given still open: never before `lower`."""
    cens = np.flatnonzero(labels.censored)
    exact = np.flatnonzero(~labels.censored)
    if len(cens) == 0:
        return X, labels.lower, np.ones(len(X))
    pseudo = pseudo_labels(X, labels)
    Xn = pd.concat([X.iloc[exact]] + [X.iloc[cens]] * PSEUDO_ROWS)
    y = np.concatenate([labels.lower[exact], pseudo.T.ravel()])
    w = np.concatenate([np.ones(len(exact)), np.full(len(cens) * PSEUDO_ROWS, 1 / PSEUDO_ROWS)])
    return Xn, y, w


def pseudo_labels(X: pd.DataFrame, labels: Labels) -> np.ndarray:
    """(censored rows, PSEUDO_ROWS) days-late labels for the censored rows, each >= its `lower`."""
    # AFT models a positive time: days from issue to payment, plus one (paid the day it was raised -> 1).
    t_lower = np.maximum(labels.lower + labels.term + 1, 1.0)
    t_upper = np.where(labels.censored, np.inf, t_lower)
    d = xgb.DMatrix(_matrix(X, MODEL_FEATURES))
    d.set_float_info("label_lower_bound", t_lower)
    d.set_float_info("label_upper_bound", t_upper)
    aft = xgb.train({**AFT_PARAMS, "base_score": float(np.median(t_lower))}, d, num_boost_round=AFT_ROUNDS)
    cens = labels.censored
    mu = np.log(np.maximum(aft.inplace_predict(_matrix(X[cens], MODEL_FEATURES)).astype(np.float64), 1e-9))
    still_open = norm.cdf((np.log(t_lower[cens]) - mu) / AFT_SIGMA)  # P(paid before the training day)
    qs = np.arange(1, PSEUDO_ROWS + 1) / (PSEUDO_ROWS + 1)
    u = np.clip(still_open[:, None] + qs[None, :] * (1 - still_open[:, None]), 1e-9, 1 - 1e-9)
    days_to_pay = np.exp(mu[:, None] + AFT_SIGMA * norm.ppf(u)) - 1
    # Rounding at the far tail (u clipped) must not move a label before the training day.
    return np.asarray(np.maximum(days_to_pay - labels.term[cens][:, None], labels.lower[cens][:, None]))


def fit_booster(X: pd.DataFrame, labels: Labels) -> xgb.Booster:
    Xn, y, w = impute_censored(X, labels)
    d = xgb.DMatrix(_matrix(Xn, MODEL_FEATURES), label=y, weight=w)
    return xgb.train(PARAMS, d, num_boost_round=ROUNDS)


def _raw(booster: xgb.Booster, X: pd.DataFrame) -> np.ndarray:
    if len(X) == 0:
        return np.zeros((0, 3))
    return np.sort(booster.inplace_predict(_matrix(X, MODEL_FEATURES)).astype(np.float64).reshape(-1, 3), axis=1)


def conformal_delta(q: np.ndarray, y: np.ndarray) -> float:
    """How far to move both ends of the band so it holds COVERAGE of `y` (CQR's finite-sample rule)."""
    scores = np.maximum(q[:, 0] - y, y - q[:, 2])
    level = min(1.0, COVERAGE * (1 + 1 / len(scores)))
    return float(np.quantile(scores, level))


@dataclass
class PayDateModel:
    booster: xgb.Booster
    delta: float  # days added to each end of the raw 10-90 band
    features: list[str] = field(default_factory=lambda: list(MODEL_FEATURES))
    metadata: dict[str, Any] = field(default_factory=dict)

    def quantiles(self, X: pd.DataFrame) -> np.ndarray:
        """(n, 3) signed days late: q10, q50, q90, the band calibrated."""
        q = _raw(self.booster, X)
        return np.column_stack([q[:, 0] - self.delta, q[:, 1], q[:, 2] + self.delta])

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(d / "booster.json")
        meta = {**self.metadata, "format": FORMAT, "delta": self.delta, "features": self.features}
        (d / "metadata.json").write_text(json.dumps(meta, indent=2, default=str))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> PayDateModel:
        meta, booster = read_artifact(Path(directory), "payment-date", FORMAT)
        return cls(booster, float(meta["delta"]), list(meta["features"]), meta)


@dataclass(frozen=True)
class PayDateBaseline:
    """Each customer's own quantiles of signed days late (its last settled invoices), pulled towards
    everyone's: q = (n * own + strength * overall) / (n + strength)."""

    overall: tuple[float, float, float]
    strength: float = 2.0

    @classmethod
    def fit(cls, days_late: Sequence[float] | np.ndarray | pd.Series, *, strength: float = 2.0) -> PayDateBaseline:
        y = np.asarray(days_late, dtype=np.float64)
        y = y[~np.isnan(y)]
        if len(y) == 0:
            return cls((0.0, 0.0, 0.0), strength)  # nothing paid yet: due date, no spread (MIN_SPREAD applies)
        q10, q50, q90 = np.quantile(y, ALPHAS)
        return cls((float(q10), float(q50), float(q90)), strength)

    def quantiles(self, X: pd.DataFrame) -> np.ndarray:
        n = X["n_settled"].to_numpy(np.float64)[:, None]
        own = X[["q10_days_late", "median_days_late", "q90_days_late"]].to_numpy(np.float64)
        overall = np.asarray(self.overall)[None, :]
        own = np.where(np.isnan(own), overall, own)
        return np.asarray((n * own + self.strength * overall) / (n + self.strength))


def metrics(q: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """`days_late_mae` scores max(0, days late), the figure collectors (and the IBM sample's
    DaysLate column) use: the floored median predicts it, since quantiles survive monotone maps.
    Coverage is on the signed days, i.e. on dates."""
    if len(y) == 0:
        return {"n": 0}
    return {
        "days_late_mae": float(np.mean(np.abs(np.maximum(q[:, 1], 0) - np.maximum(y, 0)))),
        "signed_mae": float(np.mean(np.abs(q[:, 1] - y))),
        "coverage": float(np.mean((y >= q[:, 0]) & (y <= q[:, 2]))),
        "n": int(len(y)),
    }


def train(X: pd.DataFrame, meta: pd.DataFrame, *, holdout_share: float = HOLDOUT_SHARE) -> PayDateModel | None:
    """A model on every row (payment_rows at the training moment), or None with too little history.

    The rehearsal trains the recipe on what was known when the newest `holdout_share` of rows began
    (open invoices censored then), and scores it on those of them paid since: that gives delta and
    the metrics stored with the version, beside the baseline's on the same rows. Its coverage is
    the calibrated band's on the rows delta was fitted on, so it reads about 80 % by construction."""
    labels = Labels.of(meta)
    if int((~labels.censored).sum()) < MIN_SETTLED:
        return None
    moments = meta["moment"].to_numpy("datetime64[D]")
    hold_from = split_day(moments, holdout_share)
    before, after = moments < hold_from, moments >= hold_from
    known = labels.as_known_at(meta, hold_from)
    test = after & ~labels.censored
    if not before.any() or test.sum() < 20 or known[before].censored.all():
        return None
    trial = fit_booster(X[before], known[before])
    raw = _raw(trial, X[test])
    y = labels.lower[test]
    delta = conformal_delta(raw, y)
    calibrated = np.column_stack([raw[:, 0] - delta, raw[:, 1], raw[:, 2] + delta])
    baseline = PayDateBaseline.fit(known.lower[before & ~known.censored]).quantiles(X[test])
    rehearsal = {
        "model": metrics(calibrated, y),
        "raw_coverage": metrics(raw, y)["coverage"],
        "baseline": metrics(baseline, y),
        "holdout_from": str(hold_from),
        "delta": delta,
    }
    model = PayDateModel(fit_booster(X, labels), delta)
    model.metadata = {
        "n_rows": int(len(X)),
        "censored": int(labels.censored.sum()),
        "rounds": ROUNDS,
        "params": PARAMS,
        "metrics": rehearsal,
    }
    return model


def beats_baseline(model: PayDateModel) -> bool:
    """The booster predicts only once it has done at least as well as the baseline on its rehearsal,
    judged on the payment-date error (signed days): the dates are what the forecast and the worklist
    use. The floored `days_late_mae` ignores every error among early payers, and on one rehearsal
    slice it is noisy (on the IBM sample's last slice before 2013-07-01 it favoured the baseline,
    which then lost on the test period: 1.99 against 1.90)."""
    r = model.metadata.get("metrics") or {}
    ours, base = (r.get("model") or {}).get("signed_mae"), (r.get("baseline") or {}).get("signed_mae")
    return ours is not None and base is not None and ours <= base


ARTIFACT = "paydate"  # the sub-folder of a model version's artifact


def load_for(version: str, artifact_path: str) -> PayDateModel | None:
    """The payment-date model a version carries, if it predicts: None for a version trained before
    it existed, with too little history, or that did not beat the baseline (the baseline predicts)."""
    d = Path(artifact_path) / ARTIFACT
    if not d.is_dir():
        return None
    try:
        model = PayDateModel.load(d)
    except (OSError, ValueError, KeyError) as e:
        log.error("model %s: cannot load its payment-date artifact at %s: %s", version, d, e)
        return None
    return model if model.metadata.get("predicts") else None
