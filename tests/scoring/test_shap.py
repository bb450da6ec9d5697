"""The per-pattern TreeSHAP gives what XGBoost's own pred_contribs gives, row by row."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from dunning.scoring import shap

FEATURES = [f"f{i}" for i in range(6)]


def data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, len(FEATURES))).astype(np.float32)
    X[:, 3] = rng.integers(0, 4, rows)  # few distinct values: rows fall exactly on thresholds
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    X[rng.random(X.shape) < 0.15] = np.nan  # missing values take the split's default side
    return X, y


def booster(depth: int, rounds: int = 40, seed: int = 0) -> xgb.Booster:
    X, y = data(2_000, seed)
    params = {
        "objective": "binary:logistic",
        "max_depth": depth,
        "eta": 0.3,
        "tree_method": "hist",
        "monotone_constraints": "(1,0,0,0,0,0)",
        "verbosity": 0,
        "seed": seed,
    }
    return xgb.train(params, xgb.DMatrix(X, y, feature_names=FEATURES), num_boost_round=rounds)


def reference(b: xgb.Booster, X: np.ndarray) -> np.ndarray:
    return b.predict(xgb.DMatrix(X, feature_names=FEATURES), pred_contribs=True)[:, :-1]


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_contributions_match_xgboost_for_shallow_trees(depth):
    b = booster(depth)
    assert shap._groups(b) is not None  # the per-pattern path is the one tested
    X, _ = data(5_000, seed=depth + 10)
    ours = shap.contributions(b, X, FEATURES)
    np.testing.assert_allclose(ours, reference(b, X), atol=1e-5)
    # and they still add up to the margin, less the bias
    margin = b.predict(xgb.DMatrix(X, feature_names=FEATURES), output_margin=True)
    bias = b.predict(xgb.DMatrix(X, feature_names=FEATURES), pred_contribs=True)[:, -1]
    np.testing.assert_allclose(ours.sum(axis=1) + bias, margin, atol=1e-4)


def test_deeper_trees_and_few_rows_use_xgboost_directly():
    deep = booster(5)
    assert shap._groups(deep) is None
    X, _ = data(3_000, seed=3)
    np.testing.assert_allclose(shap.contributions(deep, X, FEATURES), reference(deep, X), atol=1e-6)
    shallow = booster(2)
    few = X[:10]
    np.testing.assert_array_equal(shap.contributions(shallow, few, FEATURES), reference(shallow, few))


def test_a_row_exactly_on_a_threshold_goes_where_xgboost_sends_it():
    b = booster(2)
    _, splits = shap._groups(b)[0]
    feature, threshold, _ = splits[0]
    X, _ = data(2_000, seed=5)
    X[:500, feature] = threshold  # equal to the split value: XGBoost sends it right
    np.testing.assert_allclose(shap.contributions(b, X, FEATURES), reference(b, X), atol=1e-5)
