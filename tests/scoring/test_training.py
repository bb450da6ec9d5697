"""Training on the service's own ledger: enough data or not, champion and challenger, idempotence."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dunning.audit import AuditEvent
from dunning.errors import Conflict, NotFound
from dunning.scoring import registry, service
from dunning.scoring.features import FEATURES
from dunning.scoring.models import CHALLENGER, CHAMPION, RETIRED, ModelVersion
from dunning.simulation import Portfolio, generate_portfolio
from tests.scoring.ledger import WORLD_START, as_of, push, world

WORLD = world()


def train(db, clock, settings, **kw) -> service.TrainResult:
    with db.session() as s:
        return service.train(s, clock, settings, actor="test", **kw)


def versions(db) -> dict[str, str]:
    with db.session() as s:
        return {r.version: r.status for r in registry.versions(s)}


def test_too_little_history_keeps_the_baseline_and_says_so(db, clock, settings):
    push(db, clock, as_of(world(customers=8), clock.now().date()))
    result = train(db, clock, settings)
    assert result.outcome == "not_enough_data" and not result.promoted and result.version is None
    assert "training needs 200" in result.message and "baseline keeps scoring" in result.message
    assert versions(db) == {}


def test_a_first_model_must_beat_the_baseline_and_the_same_data_trains_nothing_new(db, clock, settings):
    push(db, clock, as_of(WORLD, clock.now().date()))
    first = train(db, clock, settings)
    assert first.outcome == "promoted", first.message
    comparison = first.comparison
    assert comparison["against"] == "baseline"
    assert comparison["challenger"]["auc"] > comparison["incumbent"]["auc"]  # measured on the same newest rows
    assert comparison["challenger"]["n"] == comparison["incumbent"]["n"] >= 100
    with db.session() as s:
        row = registry.champion(s)
        assert row.version == first.version and row.promoted_at == clock.now()
        assert row.features == FEATURES and row.late_days == 15 and row.n_rows >= settings.min_training_invoices
        assert row.training_window["as_of"] == clock.now().isoformat()
        assert row.training_window["last_issued"] < str(clock.now().date())
        assert set(row.metrics["rehearsal"]) == {"model", "baseline", "holdout_from"}
        assert Path(row.artifact_path) == settings.model_dir / row.version
        assert sorted(p.name for p in Path(row.artifact_path).iterdir()) == [
            "booster.json",
            "calibrator.json",
            "metadata.json",
            "paydate",
        ]
        # The version carries the payment-date model too, with its rehearsal beside its baseline's.
        pay = row.metrics["pay_dates"]
        assert pay["rehearsal"]["model"]["n"] == pay["rehearsal"]["baseline"]["n"] >= 20
        assert pay["days_late_mae"] >= 0 and pay["days_late_mae_baseline"] >= 0 and 0 < pay["coverage"] <= 1
        assert pay["predicts"] == (pay["signed_mae"] <= pay["signed_mae_baseline"])
        json.dumps(row.metrics, allow_nan=False)  # stored as strict JSON (PostgreSQL's json refuses NaN)
        actions = [e.action for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()]
    assert actions == ["model.trained", "model.promoted"]

    again = train(db, clock, settings)
    assert again.outcome == "unchanged" and again.version == first.version
    assert versions(db) == {first.version: CHAMPION}


def test_a_challenger_with_the_same_recipe_ties_on_what_the_champion_never_saw_and_takes_over(db, clock, settings):
    push(db, clock, as_of(WORLD, clock.now().date()))
    champion = train(db, clock, settings)
    clock.advance(days=90)
    push(db, clock, as_of(WORLD, clock.now().date()))

    result = train(db, clock, settings)
    c = result.comparison
    assert c["against"] == champion.version and c["rows"] >= service.MIN_COMPARISON_ROWS
    # Trained again on what the champion knew, the same recipe is the same model: an exact tie,
    # measured on outcomes neither had seen; the challenger then wins with the newer outcomes.
    assert c["challenger"] == c["incumbent"]
    assert result.outcome == "promoted", result.message
    assert versions(db) == {result.version: CHAMPION, champion.version: RETIRED}


def test_a_worse_recipe_stays_a_challenger(db, clock, settings):
    push(db, clock, as_of(WORLD, clock.now().date()))
    champion = train(db, clock, settings)
    clock.advance(days=90)
    push(db, clock, as_of(WORLD, clock.now().date()))

    stump = train(db, clock, settings, params={"max_depth": 1}, rounds=1)  # one split: a poor ranking
    assert stump.outcome == "challenger", stump.message
    assert stump.comparison["challenger"]["auc"] < stump.comparison["incumbent"]["auc"]
    assert "kept as a challenger" in stump.message
    assert versions(db) == {champion.version: CHAMPION, stump.version: CHALLENGER}


def test_no_promotion_without_enough_outcomes_since_the_champion(db, clock, settings):
    push(db, clock, as_of(WORLD, clock.now().date()))
    champion = train(db, clock, settings)
    clock.advance(days=5)  # a few more invoices mature: new training data, too little to compare on

    result = train(db, clock, settings)
    assert result.outcome == "challenger"
    assert f"outcomes are new to {champion.version} (matured since it was trained" in result.message
    assert f"`model promote {result.version}` makes this one the champion now" in result.message  # a way on
    assert versions(db)[champion.version] == CHAMPION


def older_history(customers: int = 60) -> Portfolio:
    """A settled history of other customers, five years older: an archive imported after go-live."""
    old = generate_portfolio(customers, 12, WORLD_START.replace(year=2019), WORLD_START.replace(year=2021), seed=11)
    invoices = old.invoices[old.invoices["paid_on"].notna()].copy()
    for column in ("external_id", "number", "customer_external_id"):
        invoices[column] = "OLD-" + invoices[column]
    people = old.customers.assign(external_id="OLD-" + old.customers["external_id"])
    return replace(old, customers=people, invoices=invoices, events={})


def test_an_imported_history_counts_as_new_to_the_champion_although_it_matured_long_ago(db, clock, settings):
    push(db, clock, as_of(WORLD, clock.now().date()))
    champion = train(db, clock, settings)
    clock.advance(days=1)
    archive = older_history()
    push(db, clock, archive)  # every outcome matured years before the champion was trained

    result = train(db, clock, settings)
    c = result.comparison
    assert c["against"] == champion.version and c["imported"] == len(archive.invoices) > 300
    assert c["rows"] - c["imported"] < 10  # besides the archive, the few invoices that matured in that day
    assert c["challenger"] == c["incumbent"]  # the same recipe on what the champion knew: a tie, on rows it never saw
    assert result.outcome == "promoted", result.message


# --- promotion and rollback, on stored versions ----------------------------------------------


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    from dunning.scoring.model import train as fit

    model = fit(WORLD.ledger(), rounds=5)
    return model.save(tmp_path_factory.mktemp("model") / "m")


def stored(db, clock, artifact, name: str, status: str = CHALLENGER, path: Path | None = None) -> None:
    with db.session() as s:
        s.add(
            ModelVersion(
                version=name,
                status=status,
                fingerprint=name,
                late_days=15,
                n_rows=1,
                features=FEATURES,
                training_window={},
                metrics={},
                artifact_path=str(path or artifact),
                created_at=clock.now(),
            )
        )


def test_promote_and_roll_back(db, clock, artifact):
    for name in ("a", "b"):
        stored(db, clock, artifact, name)
    with db.session() as s:
        registry.promote(s, clock, "a", "test")
    clock.advance(hours=1)
    with db.session() as s:
        registry.promote(s, clock, "b", "test")
        registry.promote(s, clock, "b", "test")  # the champion again: nothing changes
    assert versions(db) == {"a": RETIRED, "b": CHAMPION}
    clock.advance(hours=1)
    with db.session() as s:
        assert registry.rollback(s, clock, "test").version == "a"
    assert versions(db) == {"a": CHAMPION, "b": RETIRED}


def test_what_cannot_be_promoted(db, clock, artifact, tmp_path):
    stored(db, clock, artifact, "gone", path=tmp_path / "nothing-here")
    with db.session() as s:
        with pytest.raises(NotFound):
            registry.promote(s, clock, "nope", "test")
        with pytest.raises(Conflict, match="artifact"):
            registry.promote(s, clock, "gone", "test")
        with pytest.raises(Conflict, match="no earlier champion"):
            registry.rollback(s, clock, "test")


def test_the_database_refuses_a_second_champion(db, clock, artifact):
    stored(db, clock, artifact, "one", CHAMPION)
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(
            ModelVersion(
                version="two",
                status=CHAMPION,
                fingerprint="two",
                late_days=15,
                n_rows=1,
                features=[],
                training_window={},
                metrics={},
                artifact_path="x",
                created_at=clock.now(),
            )
        )
        s.flush()


def test_knew_before_follows_the_feature_builders_day_rule(clock):
    import numpy as np

    at = clock.now()  # 09:00: that whole day is known
    assert service.knew_before(at) == np.datetime64(at.date() + timedelta(days=1))
    midnight = at.replace(hour=0)
    assert service.knew_before(midnight) == np.datetime64(at.date())
