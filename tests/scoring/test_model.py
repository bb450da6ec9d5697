from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from dunning.scoring.features import FEATURES, scoring_rows, training_rows
from dunning.scoring.model import Platt, TrainedModel, beats, metrics, split_day, train
from dunning.simulation import generate_portfolio

NOW = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def history():
    p = generate_portfolio(500, 12, date(2022, 1, 1), date(2024, 1, 1), seed=11)
    return p.ledger(), p.scoring_events()


@pytest.fixture(scope="module")
def model(history):
    invoices, events = history
    return train(invoices, events=events, created_at=NOW)


def test_metadata_describes_the_training(model, history):
    meta = model.metadata
    assert meta["version"].startswith("xgb-20240101060000-")
    assert meta["created_at"] == NOW.isoformat()
    assert meta["late_days"] == 15 and model.features == FEATURES
    window = meta["training_window"]
    assert window["first_issued"] <= window["last_issued"] < "2024-01-01"
    rehearsal = meta["metrics"]
    for who in ("model", "baseline"):
        assert set(rehearsal[who]) >= {"auc", "pr_auc", "brier", "n", "positives"}
    assert rehearsal["model"]["n"] == rehearsal["baseline"]["n"] > 100
    assert rehearsal["model"]["auc"] > rehearsal["baseline"]["auc"]


def test_probabilities_are_calibrated_on_later_data(model, history):
    invoices, events = history
    # Outcomes of invoices issued after the training data ended, from the same portfolio world.
    later = generate_portfolio(500, 12, date(2022, 1, 1), date(2024, 7, 1), seed=11).ledger()
    X, y, meta = training_rows(later, events=None)
    fresh = (meta["moment"] >= pd.Timestamp("2024-01-01")).to_numpy()
    p = model.predict_proba(X[fresh])
    assert ((p > 0) & (p < 1)).all()
    # Mean prediction close to the observed rate; and the top decile much riskier than the rest.
    assert abs(p.mean() - y[fresh].mean()) < 0.05
    top = p >= np.quantile(p, 0.9)
    assert y[fresh][top].mean() > 2 * y[fresh][~top].mean()


def test_save_and_load_round_trip(model, history, tmp_path):
    invoices, events = history
    X, _ = scoring_rows(invoices, NOW, events=events)
    model.save(tmp_path / "m")
    assert sorted(f.name for f in (tmp_path / "m").iterdir()) == ["booster.json", "calibrator.json", "metadata.json"]
    assert json.loads((tmp_path / "m" / "metadata.json").read_text())["features"] == FEATURES
    loaded = TrainedModel.load(tmp_path / "m")
    assert loaded.version == model.version
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-6)
    assert loaded.explain(X.head(20)) == model.explain(X.head(20))


def test_explain_lists_the_strongest_pushes_towards_late(model, history):
    invoices, events = history
    X, _ = scoring_rows(invoices, NOW, events=events)
    contrib = model.contributions(X)
    # SHAP contributions plus the bias add up to the margin.
    bias = model.margin(X) - contrib.sum(axis=1)
    assert np.allclose(bias, bias[0], atol=1e-3)
    for row, expl in zip(contrib, model.explain(X, top=3)):
        assert len(expl) <= 3
        weights = [w for _, w in expl]
        assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
        if expl:
            assert weights[0] == pytest.approx(row.max(), rel=1e-6)
    reasons = model.reasons(X)
    assert len(reasons) == len(X) and any(reasons)
    assert all(isinstance(s, str) and s not in FEATURES for r in reasons for s in r)


def test_empty_input_scores_nothing(model, history):
    X, _ = scoring_rows(history[0], date(2021, 1, 1))
    assert len(X) == 0 and len(model.predict_proba(X)) == 0 and model.explain(X) == []


def test_beats_wants_better_ranking_without_worse_calibration():
    champion = {"auc": 0.80, "brier": 0.10}
    assert beats({"auc": 0.82, "brier": 0.10}, champion)
    assert not beats({"auc": 0.79, "brier": 0.09}, champion)
    assert not beats({"auc": 0.85, "brier": 0.12}, champion)
    assert not beats({"auc": 0.805, "brier": 0.10}, champion, min_auc_gain=0.01)
    assert beats({"auc": 0.7, "brier": 0.2}, {"auc": math.nan, "brier": math.nan})
    assert not beats({"auc": math.nan, "brier": 0.1}, champion)


def test_metrics_and_helpers():
    m = metrics([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3])
    assert m["auc"] == 1.0 and m["n"] == 4 and m["positives"] == 2
    assert math.isnan(metrics([0, 0], [0.1, 0.2])["auc"])
    days = np.array(["2024-01-01"] * 5 + ["2024-01-02"] * 5, dtype="datetime64[D]")
    assert split_day(days, 0.3) == np.datetime64("2024-01-02")
    platt = Platt.fit(np.array([-2.0, -1.0, 0.0, 1.0, 2.0, -1.5, 1.5, 0.5]), np.array([0, 0, 0, 1, 1, 1, 0, 1]))
    assert platt.a > 0  # higher margin, higher probability
