"""The XGBoost risk model: time-split training, out-of-time calibration, explanations, artifacts.

Training only ever looks backwards. Rows are invoices as of their issue date (features.py),
ordered by that date:

    older rows ..................................... | newest slice
    a probe booster fits here                          picks the rounds, fits Platt
    the kept booster fits on all of it, with the probe's rounds and calibration

The metrics stored with a model come from a rehearsal: the same recipe run with only what was
known when the newest `holdout_share` of rows began (rows matured by then), scored on those rows,
next to the baseline scored on the same rows.

Calibration is Platt scaling on the booster's margin: a monotone map, so it cannot change the
ranking (AUC), and two numbers fit reliably on the few hundred rows a small ledger has, where
isotonic regression would step and tie scores.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from dunning.scoring import reasons as reason_text
from dunning.scoring import shap
from dunning.scoring.baseline import Baseline
from dunning.scoring.features import FEATURES, training_rows

# Chosen on the IBM sample with rolling folds that end before 2013-04-01 (so both reported
# backtest cutoffs stay unseen), for late_days 0 and 15: shallow trees, column sampling, and the
# number of rounds found by early stopping on the newest slice. Histories are short and noisy;
# deeper or longer-grown trees memorise customers. Results were flat across the grid (within
# about 0.005 AUC), so the choice leans to the simpler end.
PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": 2,
    "eta": 0.05,
    "min_child_weight": 10,
    "subsample": 0.8,
    "colsample_bytree": 0.5,
    "nthread": 2,
    "seed": 0,
    "verbosity": 0,
}
MAX_ROUNDS = 1000
PATIENCE = 50
FALLBACK_ROUNDS = 150  # when there is too little data to hold a slice back

# A worse payment record must never lower the risk. Besides being what a collector expects (and
# what the reasons then say), it keeps small, noisy histories from learning wiggles.
INCREASING = {
    "late_rate",
    "paid_after_due_rate",
    "mean_days_late",
    "max_days_late",
    "last_days_late",
    "ewm_days_late",
    "recent_late_rate",
    "recent_days_late",
    "mean_days_to_pay",
    "overdue_count",
    "promises_broken",
}
FORMAT = 1


@dataclass
class Platt:
    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(cls, margin: np.ndarray, y: np.ndarray) -> Platt:
        if len(np.unique(y)) < 2:
            return cls()  # one class teaches nothing: keep the booster's own probabilities
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
        return cls(float(lr.coef_[0, 0]), float(lr.intercept_[0]))

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * margin + self.b)))


@dataclass
class TrainedModel:
    booster: xgb.Booster
    calibrator: Platt
    features: list[str]
    metadata: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.metadata.get("version", "unversioned")

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        return X[self.features].to_numpy(np.float32)

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        return self.booster.inplace_predict(self._matrix(X), predict_type="margin").astype(np.float64)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator(self.margin(X))

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Per-row, per-feature SHAP contributions to the margin (bias column dropped)."""
        if len(X) == 0:
            return np.zeros((0, len(self.features)))
        return shap.contributions(self.booster, self._matrix(X), self.features)

    def explain(self, X: pd.DataFrame, top: int = 3, min_contribution: float = 0.01) -> list[list[tuple[str, float]]]:
        """Up to `top` features pushing each row towards "late", strongest first. Pushes smaller
        than `min_contribution` (in log-odds) are noise, not reasons, and are left out."""
        contrib = self.contributions(X)
        order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
        weights = np.take_along_axis(contrib, order, axis=1)
        names = np.array(self.features, dtype=object)[order]
        # as Python lists: indexing numpy row by row costs more than the whole sort
        return [
            [(name, weight) for name, weight in zip(row_names, row_weights) if weight > min_contribution]
            for row_names, row_weights in zip(names.tolist(), weights.tolist())
        ]

    def reasons(self, X: pd.DataFrame, top: int = 3) -> list[list[str]]:
        late_days = int(self.metadata.get("late_days", 15))
        return reason_text.describe(X, self.explain(X, top=top), late_days=late_days)

    def save(self, directory) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(d / "booster.json")
        calibrator = {"method": "platt", "a": self.calibrator.a, "b": self.calibrator.b}
        (d / "calibrator.json").write_text(json.dumps(calibrator))
        meta = {**self.metadata, "features": self.features}
        (d / "metadata.json").write_text(json.dumps(meta, indent=2, default=str))
        return d

    @classmethod
    def load(cls, directory) -> TrainedModel:
        d = Path(directory)
        meta, booster = read_artifact(d, "model", FORMAT)
        cal = json.loads((d / "calibrator.json").read_text())
        return cls(booster, Platt(cal["a"], cal["b"]), list(meta["features"]), meta)


def metrics(y, p) -> dict:
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if both else math.nan,
        "brier": float(brier_score_loss(y, p)) if len(y) else math.nan,
        "n": int(len(y)),
        "positives": int(y.sum()),
    }


def beats(challenger: dict, champion: dict, *, min_auc_gain: float = 0.0, brier_slack: float = 0.002) -> bool:
    """Should the challenger replace the champion?

    Pass metrics measured on the SAME rows (score both models on the challenger's holdout with
    metrics()); figures from different periods do not compare. Ranking must not get worse, and
    calibration may only slip by a hair."""
    ca, pa = challenger.get("auc", math.nan), champion.get("auc", math.nan)
    if math.isnan(ca):
        return False
    if math.isnan(pa):
        return True
    return ca >= pa + min_auc_gain and challenger["brier"] <= champion["brier"] + brier_slack


def split_day(moments, newest_share: float) -> np.datetime64:
    """The first day of the newest `newest_share` of rows. Whole days: rows of one day never
    straddle a split."""
    days = np.sort(np.asarray(moments, dtype="datetime64[D]"))
    return days[min(len(days) - 1, int(len(days) * (1 - newest_share)))]


def _constraints(features: list[str]) -> str:
    return "(" + ",".join("1" if f in INCREASING else "0" for f in features) + ")"


def _dmatrix(X: pd.DataFrame, y=None) -> xgb.DMatrix:
    return xgb.DMatrix(X[FEATURES].to_numpy(np.float32), label=y, feature_names=FEATURES)


def fit(
    X: pd.DataFrame,
    y: np.ndarray,
    moments,
    *,
    calibration_share: float = 0.2,
    params: dict | None = None,
    rounds: int | None = None,
) -> TrainedModel:
    """A booster on all rows, calibrated out of time.

    A probe booster trains on the older rows and is scored on the newest `calibration_share`:
    that picks the number of rounds (early stopping) and fits Platt on predictions for rows it
    never saw. The kept booster is then grown on all rows with that many rounds and wears the
    probe's calibration, as sklearn's CalibratedClassifierCV(ensemble=False) does with folds.
    On small ledgers the newest rows are the most telling; leaving them out of the kept booster
    cost more AUC in tuning than the slight probe/refit mismatch costs calibration.
    """
    P = {**PARAMS, "monotone_constraints": _constraints(FEATURES), **(params or {})}
    moments = np.asarray(moments, dtype="datetime64[D]")
    cut = split_day(moments, calibration_share)
    older, newer = moments < cut, moments >= cut
    platt = Platt()
    if older.any() and newer.any():
        d_new = _dmatrix(X[newer], y[newer])
        probe = xgb.train(
            P,
            _dmatrix(X[older], y[older]),
            num_boost_round=rounds or MAX_ROUNDS,
            evals=[(d_new, "newest")],
            early_stopping_rounds=None if rounds else PATIENCE,
            verbose_eval=False,
        )
        rounds = rounds or probe.best_iteration + 1
        margin = probe.predict(d_new, output_margin=True, iteration_range=(0, rounds))
        platt = Platt.fit(margin.astype(np.float64), y[newer])
    rounds = rounds or FALLBACK_ROUNDS
    booster = xgb.train(P, _dmatrix(X, y), num_boost_round=rounds)
    model = TrainedModel(booster, platt, list(FEATURES))
    model.metadata = {"rounds": int(rounds), "calibrated_on_rows_from": str(cut)}
    return model


def train(
    invoices: pd.DataFrame,
    *,
    cutoff=None,
    late_days: int = 15,
    events: dict | None = None,
    holdout_share: float = 0.2,
    calibration_share: float = 0.2,
    params: dict | None = None,
    rounds: int | None = None,
    created_at: datetime | None = None,
    rows=None,
) -> TrainedModel:
    """Train on everything known at `cutoff` (default: the end of the data).

    `rows` lets a caller that already built training_rows(...) for this cutoff pass them in.
    """
    if rows is None:
        rows = training_rows(invoices, late_days=late_days, events=events, as_of=cutoff)
    X, y, meta = rows
    if len(y) == 0:
        raise ValueError("no invoice has a known outcome yet: nothing to train on")
    moments = meta["moment"].to_numpy("datetime64[D]")
    due = meta["due_on"].to_numpy("datetime64[D]")

    # Rehearsal: what would this recipe have scored on the newest slice, trained without it?
    hold_from = split_day(moments, holdout_share)
    holdout = moments >= hold_from
    known = (moments < hold_from) & (due + np.timedelta64(late_days + 1, "D") <= hold_from)
    rehearsal = {}
    if known.any() and holdout.any():
        trial = fit(
            X[known], y[known], moments[known], calibration_share=calibration_share, params=params, rounds=rounds
        )
        base = Baseline.fit(y[known], late_days=late_days)
        rehearsal = {
            "model": metrics(y[holdout], trial.predict_proba(X[holdout])),
            "baseline": metrics(y[holdout], base.predict_proba(X[holdout])),
            "holdout_from": str(hold_from),
        }

    model = fit(X, y, moments, calibration_share=calibration_share, params=params, rounds=rounds)
    created = created_at or datetime.now(UTC)
    digest = hashlib.sha256(model.booster.save_raw("json")).hexdigest()[:8]
    model.metadata = {
        **model.metadata,
        "format": FORMAT,
        "version": f"xgb-{created:%Y%m%d%H%M%S}-{digest}",
        "created_at": created.isoformat(),
        "late_days": late_days,
        "training_window": {
            "first_issued": str(moments.min()),
            "last_issued": str(moments.max()),
            "cutoff": str(pd.Timestamp(cutoff).date()) if cutoff is not None else None,
        },
        "n_rows": int(len(y)),
        "late_share": float(y.mean()),
        "metrics": rehearsal,
        "baseline": Baseline.fit(y, late_days=late_days).to_dict(),
        "params": {**PARAMS, **(params or {})},
        "xgboost": xgb.__version__,
    }
    return model


def read_artifact(directory: Path, what: str, fmt: int) -> tuple[dict[str, Any], xgb.Booster]:
    """An artifact folder's metadata and booster, refused when written in another format."""
    meta = json.loads((directory / "metadata.json").read_text())
    if meta.get("format") != fmt:
        raise ValueError(f"{what} artifact format {meta.get('format')!r}, this code reads {fmt}")
    booster = xgb.Booster()
    booster.load_model(directory / "booster.json")
    booster.set_param({"nthread": PARAMS["nthread"]})
    return meta, booster
