"""Training a challenger on the deployment's own ledger, and deciding whether it takes over.

Training has three steps: read (a session), fit (no session), record (a session). `train()` runs
them in the request's session, for the API; the jobs (jobs.py, which the scheduler and the CLI
use) give each step its own short transaction, because on SQLite a transaction holds the one
write lock from its first statement, and a long training must not stall every ingest behind it.

Champion or challenger. A challenger replaces the champion only if its *recipe* does at least
as well given the same information: it is trained again on what the champion was trained on,
and both are scored on the outcomes that matured since (rows neither has seen). The champion
cannot be scored on the challenger's own holdout: it trained on most of it, and the comparison
would favour it for having seen the answers. When the recipe ties (same code, same data), the
challenger wins the tie and brings the newer outcomes with it. With no champion, the challenger
must beat the baseline on its newest holdout (model.train's rehearsal).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sqlalchemy import select
from sqlmodel import Session, col

from dunning import audit
from dunning.clock import Clock
from dunning.config import Settings
from dunning.ledger.models import Invoice
from dunning.scoring import model as xgb_model
from dunning.scoring import paydate, registry
from dunning.scoring.baseline import Baseline
from dunning.scoring.data import load_history
from dunning.scoring.features import payment_rows, training_rows
from dunning.scoring.model import TrainedModel, beats, metrics
from dunning.scoring.models import BASELINE, CHALLENGER, ModelVersion
from dunning.words import agree, plural

MIN_COMPARISON_ROWS = 50  # outcomes since the champion was trained, before a comparison means anything
PROMOTED, KEPT, UNCHANGED, NOT_ENOUGH = "promoted", "challenger", "unchanged", "not_enough_data"


@dataclass
class TrainResult:
    outcome: str  # promoted | challenger | unchanged | not_enough_data
    message: str
    version: str | None = None
    comparison: dict[str, Any] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return self.outcome == PROMOTED


@dataclass
class Incumbent:
    version: str
    artifact_path: str
    knew_before: np.datetime64  # the first day its training knew nothing about
    # Invoices the ledger received after it was trained: an imported history matured long ago,
    # yet the champion never saw it.
    arrived_later: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


@dataclass
class TrainingPlan:
    now: datetime
    late_days: int
    rows: tuple[pd.DataFrame, np.ndarray, pd.DataFrame] | None = None
    pay_rows: tuple[pd.DataFrame, pd.DataFrame] | None = None  # every invoice issued, for the payment dates
    fingerprint: str = ""
    incumbent: Incumbent | None = None
    params: dict | None = None
    rounds: int | None = None
    result: TrainResult | None = None  # set when there is nothing to train


@dataclass
class Candidate:
    plan: TrainingPlan
    model: TrainedModel
    promote: bool
    comparison: dict[str, Any]
    pay_model: paydate.PayDateModel | None = None


def train(
    session: Session,
    clock: Clock,
    settings: Settings,
    *,
    actor: str = "system",
    params: dict | None = None,
    rounds: int | None = None,
) -> TrainResult:
    plan = prepare_training(session, clock, settings, params=params, rounds=rounds)
    if plan.result is not None:
        return plan.result
    return record_training(session, clock, settings, fit_challenger(plan), actor=actor)


def prepare_training(
    session: Session, clock: Clock, settings: Settings, *, params: dict | None = None, rounds: int | None = None
) -> TrainingPlan:
    late_days = settings.late_days_threshold
    plan = TrainingPlan(now=clock.now(), late_days=late_days, params=params, rounds=rounds)
    history = load_history(session)
    rows = (
        training_rows(history.invoices, late_days=late_days, events=history.events, as_of=plan.now)
        if len(history.invoices)
        else None
    )
    n = 0 if rows is None else len(rows[1])
    if n < settings.min_training_invoices:
        plan.result = TrainResult(
            NOT_ENOUGH,
            f"{plural(n, 'invoice')} {agree(n, 'has', 'have')} a final outcome"
            f" (paid, or more than {late_days} "
            f"days past due); training needs {settings.min_training_invoices} "
            "(DUNNING_MIN_TRAINING_INVOICES). The baseline keeps scoring.",
        )
        return plan
    if len(np.unique(rows[1])) < 2:
        plan.result = TrainResult(
            NOT_ENOUGH,
            f"all {n} invoices with a final outcome were "
            f"{'late' if rows[1][0] else 'on time'}: there is nothing to learn yet",
        )
        return plan
    plan.rows, plan.fingerprint = rows, fingerprint(rows, late_days, params, rounds)
    plan.pay_rows = payment_rows(history.invoices, late_days=late_days, events=history.events, as_of=plan.now)
    existing = registry.by_fingerprint(session, plan.fingerprint)
    if existing is not None:
        plan.result = _unchanged(existing, n)
        return plan
    current = registry.champion(session)
    if current is not None:
        later = (
            session.execute(select(col(Invoice.id)).where(col(Invoice.created_at) > current.created_at)).scalars().all()
        )
        plan.incumbent = Incumbent(
            current.version, current.artifact_path, knew_before(current.created_at), np.asarray(later, dtype=np.int64)
        )
    return plan


def fit_challenger(plan: TrainingPlan) -> Candidate:
    """The expensive part; touches no database."""
    model = xgb_model.train(
        None,
        cutoff=plan.now,
        late_days=plan.late_days,
        rows=plan.rows,
        created_at=plan.now,
        params=plan.params,
        rounds=plan.rounds,
    )
    if plan.incumbent is None:
        promote, comparison = _against_baseline(model)
    else:
        promote, comparison = _against_champion(plan, model)
    return Candidate(plan, model, promote, comparison, _pay_model(plan))


def _pay_model(plan: TrainingPlan) -> paydate.PayDateModel | None:
    """The version's payment-date model, marked to predict only if it beat the baseline on its
    rehearsal; the risk model alone decides promotion (one version carries both)."""
    if plan.pay_rows is None:
        return None
    pay = paydate.train(*plan.pay_rows)
    if pay is not None:
        pay.metadata["predicts"] = paydate.beats_baseline(pay)
    return pay


def record_training(
    session: Session, clock: Clock, settings: Settings, candidate: Candidate, *, actor: str = "system"
) -> TrainResult:
    plan, model = candidate.plan, candidate.model
    registry.lock(session)
    existing = registry.by_fingerprint(session, plan.fingerprint)  # again: another training may have won the race
    if existing is not None:
        return _unchanged(existing, len(plan.rows[1]))
    version = model.version
    path = settings.model_dir / version
    model.save(path)  # before the row: a row never points at a missing artifact (a failed commit leaves a stray folder)
    if candidate.pay_model is not None:
        candidate.pay_model.save(path / paydate.ARTIFACT)
    meta = model.metadata
    row = ModelVersion(
        version=version,
        status=CHALLENGER,
        fingerprint=plan.fingerprint,
        late_days=plan.late_days,
        n_rows=meta["n_rows"],
        features=list(model.features),
        training_window={**meta["training_window"], "as_of": plan.now.isoformat()},
        metrics=json_safe(
            {
                "rehearsal": meta.get("metrics", {}),
                "comparison": candidate.comparison,
                "late_share": meta["late_share"],
                "rounds": meta["rounds"],
                "pay_dates": _pay_metrics(candidate.pay_model),
            }
        ),
        artifact_path=str(path),
        created_at=plan.now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        clock,
        actor=actor,
        action="model.trained",
        subject_type="model_version",
        subject_id=version,
        rows=meta["n_rows"],
        comparison=json_safe(candidate.comparison),
    )
    message = candidate.comparison["summary"]
    if candidate.promote:
        current = registry.champion(session)
        expected = plan.incumbent.version if plan.incumbent else None
        if (current.version if current else None) == expected:
            registry.promote(session, clock, version, actor)
            return TrainResult(PROMOTED, f"{version} promoted: {message}", version, candidate.comparison)
        message = f"the champion changed to {current.version if current else 'none'} during training; compare again"
    return TrainResult(KEPT, f"{version} kept as a challenger: {message}", version, candidate.comparison)


def _pay_metrics(pay: paydate.PayDateModel | None) -> dict[str, Any]:
    """days_late_mae, its baseline's and the band's coverage on the rehearsal, and whether it predicts."""
    if pay is None:
        return {"predicts": False, "summary": f"fewer than {paydate.MIN_SETTLED} paid invoices: the baseline predicts"}
    r = pay.metadata["metrics"]
    ours, base = r["model"], r["baseline"]
    return {
        "predicts": pay.metadata["predicts"],
        "days_late_mae": ours["days_late_mae"],
        "days_late_mae_baseline": base["days_late_mae"],
        "signed_mae": ours["signed_mae"],
        "signed_mae_baseline": base["signed_mae"],
        "coverage": ours["coverage"],
        "rehearsal": r,
    }


def fingerprint(rows, late_days: int, params: dict | None, rounds: int | None) -> str:
    """Same training rows, label and recipe: same fingerprint. Hashed column by column, without
    copying the matrix."""
    X, y, meta = rows
    h = hashlib.blake2b(digest_size=16)
    recipe = {
        "format": xgb_model.FORMAT,
        "xgboost": xgb.__version__,
        "late_days": late_days,
        "params": {**xgb_model.PARAMS, **(params or {})},
        "rounds": rounds,
        "features": list(X.columns),
    }
    h.update(json.dumps(recipe, sort_keys=True, default=str).encode())
    for column in X.columns:
        h.update(np.ascontiguousarray(X[column].to_numpy(np.float64)).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    h.update(meta["moment"].to_numpy("datetime64[D]").tobytes())
    return h.hexdigest()


def knew_before(at: datetime) -> np.datetime64:
    """The first day a training (or score) as of `at` knew nothing about. As in features.py, a
    moment inside a day knows that whole day; midnight knows only the days before."""
    at = at.astimezone(UTC)
    day = at.date() + (timedelta(0) if at.time() == time(0) else timedelta(days=1))
    return np.datetime64(day, "D")


def _unchanged(existing: ModelVersion, n: int) -> TrainResult:
    return TrainResult(
        UNCHANGED,
        f"{existing.version} ({existing.status}) was trained on exactly these "
        f"{plural(n, 'outcome')} with this recipe; nothing new to learn",
        existing.version,
        existing.metrics.get("comparison", {}),
    )


def _against_baseline(model: TrainedModel) -> tuple[bool, dict]:
    rehearsal = model.metadata.get("metrics") or {}
    if not rehearsal:
        return False, {"against": BASELINE, "summary": "too few outcomes to hold the newest back and test on them"}
    ours, base = rehearsal["model"], rehearsal["baseline"]
    won = beats(ours, base)
    return won, {
        "against": BASELINE,
        "rows": ours["n"],
        "rows_from": rehearsal["holdout_from"],
        "challenger": ours,
        "incumbent": base,
        "summary": f"AUC {_f(ours['auc'])} against the baseline's {_f(base['auc'])}, Brier "
        f"{_f(ours['brier'])} against {_f(base['brier'])}, on the newest {ours['n']} outcomes",
    }


def _against_champion(plan: TrainingPlan, model: TrainedModel) -> tuple[bool, dict]:
    inc = plan.incumbent
    X, y, meta = plan.rows
    due = meta["due_on"].to_numpy("datetime64[D]")
    matured = due + np.timedelta64(plan.late_days, "D") < inc.knew_before  # matured when the champion trained
    imported = np.isin(meta["invoice_id"].to_numpy(), inc.arrived_later)
    seen = matured & ~imported
    new = ~seen
    base = {
        "against": inc.version,
        "rows": int(new.sum()),
        "rows_from": str(inc.knew_before),
        "imported": int(imported.sum()),
    }
    if new.sum() < MIN_COMPARISON_ROWS or len(np.unique(y[new])) < 2 or len(np.unique(y[seen])) < 2:
        late = int(y[new].sum())
        return False, {
            **base,
            "summary": (
                f"only {plural(int(new.sum()), 'outcome')} are new to {inc.version} (matured since it was trained, "
                f"or imported after it; {late} late, {int(new.sum()) - late} on time): a comparison needs "
                f"{MIN_COMPARISON_ROWS}, with both kinds. The next retrain compares again; "
                f"`model promote {model.version}` makes this one the champion now"
            ),
        }
    champion = registry.load_path(inc.version, inc.artifact_path)
    if champion is None or not set(champion.features) <= set(X.columns):
        promote, found = _against_baseline(model)
        return promote, {
            **found,
            "summary": f"the champion {inc.version} cannot score these rows (artifact "
            f"missing or other features); {found['summary']}",
        }
    moments = meta["moment"].to_numpy("datetime64[D]")
    trial = xgb_model.fit(X[seen], y[seen], moments[seen], params=plan.params, rounds=plan.rounds)
    ours = metrics(y[new], trial.predict_proba(X[new]))
    theirs = metrics(y[new], champion.predict_proba(X[new]))
    baseline = metrics(y[new], Baseline.fit(y[seen], late_days=plan.late_days).predict_proba(X[new]))
    won = beats(ours, theirs)
    return won, {
        **base,
        "challenger": ours,
        "incumbent": theirs,
        "baseline": baseline,
        "summary": f"given what {inc.version} knew, its recipe scores AUC {_f(ours['auc'])} against "
        f"{_f(theirs['auc'])} and Brier {_f(ours['brier'])} against {_f(theirs['brier'])} on "
        f"the {ours['n']} outcomes that matured since",
    }


def _f(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3f}"


def json_safe(value: Any) -> Any:
    """NaN (an AUC over one class) is not JSON; PostgreSQL's json type refuses it."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value
