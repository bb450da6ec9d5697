"""Scoring customers: each customer with open invoices, as of now, with the champion or the baseline.

`rescore()` reads, computes and writes in one session; the job (jobs.py, which the scheduler and
the CLI run) gives the read and the write their own short transactions and computes in between.
Scores are appended; the cycle reads each customer's newest (scoring/risk.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlmodel import Session

from dunning import failures
from dunning.clock import Clock
from dunning.config import Settings
from dunning.errors import NotFound
from dunning.ledger.models import Customer
from dunning.policies import service as policy_service
from dunning.scoring import paydate, predictions, registry, scores
from dunning.scoring.baseline import Baseline
from dunning.scoring.data import History, load_history
from dunning.scoring.features import scoring_rows, settled_days_late, training_rows
from dunning.scoring.model import TrainedModel
from dunning.scoring.models import BASELINE
from dunning.scoring.predictions import PayDateRow
from dunning.scoring.risk import NO_HISTORY_PRIOR, baseline_risks
from dunning.scoring.schemas import ScoreOut


@dataclass
class RescoreResult:
    scorer: str  # the model version, or "baseline"
    customers: int
    written: int
    scored_at: datetime
    pay_dates: int | None = None  # predictions stored (None: this run did not compute them)


@dataclass
class ScoringInput:
    now: datetime
    history: History
    version: str
    model: TrainedModel | None  # None: the baseline scores
    pay_model: paydate.PayDateModel | None = None  # None: the payment-date baseline predicts


@dataclass
class Computed:
    scores: list[scores.StoredScore]
    pay_dates: list[PayDateRow]


def rescore(session: Session, clock: Clock, settings: Settings) -> RescoreResult:
    data = read_for_scoring(session, clock)
    computed = score_customers(data, settings.late_days_threshold)
    return store_scores(session, clock, computed.scores, data, computed.pay_dates)


def read_for_scoring(session: Session, clock: Clock) -> ScoringInput:
    now = clock.now()
    current = registry.champion(session)
    model = registry.load(current) if current is not None else None
    version = current.version if model is not None else BASELINE
    pay_model = paydate.load_for(current.version, current.artifact_path) if model is not None else None
    return ScoringInput(now, load_history(session), version, model, pay_model)


def score_customers(data: ScoringInput, late_days: int) -> Computed:
    """Each customer with open invoices at `now`, scored as of `now` (the steps below, in order),
    and each open invoice's payment date, from the same rows."""
    X, meta = open_invoice_rows(data, late_days)
    if X.empty:
        return Computed([], [])
    model = scorer(data, late_days)
    return Computed(per_customer(data, X, meta, model.predict_proba(X), model), pay_dates(data, X, meta))


def pay_dates(data: ScoringInput, X: pd.DataFrame, meta: pd.DataFrame) -> list[PayDateRow]:
    """Quantiles of each open invoice's signed days late, unconditioned: readers condition them on
    "still open" as of when they read (scoring/paydates.py)."""
    if data.pay_model is not None:
        q, version = data.pay_model.quantiles(X), data.version
    else:
        days_late = settled_days_late(data.history.invoices, data.now)
        q, version = paydate.PayDateBaseline.fit(days_late).quantiles(X), BASELINE
    q = np.round(q, 3)
    return [
        PayDateRow(int(i), int(c), lo, mid, hi, version, data.now)
        for i, c, (lo, mid, hi) in zip(meta["invoice_id"], meta["customer_id"], q.tolist())
    ]


def open_invoice_rows(data: ScoringInput, late_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The invoices open at `now`, described with what was known then."""
    if data.history.invoices.empty:
        return pd.DataFrame(), pd.DataFrame()
    return scoring_rows(data.history.invoices, data.now, late_days=late_days, events=data.history.events)


def scorer(data: ScoringInput, late_days: int) -> TrainedModel | Baseline:
    return data.model if data.model is not None else _baseline(data, late_days)


def per_customer(
    data: ScoringInput, X: pd.DataFrame, meta: pd.DataFrame, p: np.ndarray, model: TrainedModel | Baseline
) -> list[scores.StoredScore]:
    picked = riskiest_accounts(data, X, meta, p)
    return scored(data, picked, model.reasons(X.loc[picked["row"].to_numpy()]))


def riskiest_accounts(data: ScoringInput, X: pd.DataFrame, meta: pd.DataFrame, p: np.ndarray) -> pd.DataFrame:
    """From invoice probabilities to one row per customer: currency, probability, open invoices,
    and `row`, the invoice (a row of X) whose reasons explain it.

    A case's probability is the open-balance-weighted mean of its open invoices' probabilities:
    the expected share of the money owed that will come late, so a large risky invoice counts for
    more than a small one. Cases are per currency; a customer owing in several is given its
    riskiest account, since it is one debtor and the cycle asks one risk per customer. The reasons
    are those of the invoice weighing most in that account's risk: explaining one row per customer
    rather than every open invoice is also most of the cost saved."""
    inv = data.history.invoices.loc[meta.index]
    # Weight: the open balance; an invoice paid since `now` (a replay of the past) was wholly open then.
    weight = np.where(inv["paid_on"].isna(), inv["open_minor"], inv["total_minor"]).astype(np.float64)
    frame = pd.DataFrame(
        {
            "row": X.index,
            "customer_id": meta["customer_id"].to_numpy(),
            "currency": meta["currency"].to_numpy(),
            "weight": weight,
            "p": p,
        }
    )
    frame["wp"] = frame["weight"] * frame["p"]
    accounts = frame.groupby(["customer_id", "currency"], sort=True).agg(
        wp=("wp", "sum"), w=("weight", "sum"), n=("p", "size")
    )
    accounts["probability"] = np.where(accounts["w"] > 0, accounts["wp"] / accounts["w"].where(accounts["w"] > 0, 1), 0)
    accounts = accounts.reset_index().sort_values(
        ["customer_id", "probability"], ascending=[True, False], kind="stable"
    )
    riskiest = accounts.drop_duplicates("customer_id")
    driver = frame.sort_values("wp", kind="stable").drop_duplicates(["customer_id", "currency"], keep="last")
    picked = riskiest.merge(driver[["customer_id", "currency", "row"]], on=["customer_id", "currency"])
    return picked.set_index("customer_id")[["currency", "probability", "n", "row"]]


def scored(data: ScoringInput, picked: pd.DataFrame, reasons: list[list[str]]) -> list[scores.StoredScore]:
    return [
        scores.StoredScore(int(cid), cur, round(float(q), 6), data.version, tuple(r), int(n), data.now)
        for cid, cur, q, n, r in zip(picked.index, picked["currency"], picked["probability"], picked["n"], reasons)
    ]


def store_scores(
    session: Session,
    clock: Clock,
    computed: list[scores.StoredScore],
    data: ScoringInput,
    pay_dates: list[PayDateRow] | None = None,
) -> RescoreResult:
    """The scores and the payment dates (replacing every earlier prediction; None leaves them),
    and a failure recorded for each customer whose invoices could not be read: their last score
    (or the baseline) stays, and the team sees why."""
    written = scores.append(session, computed)
    stored = None if pay_dates is None else predictions.replace(session, pay_dates)
    for customer_id, why in data.history.unusable.items():
        failures.record(session, clock, "rescore", ValueError(why), customer_id=customer_id)
    return RescoreResult(data.version, len(computed), written, data.now, stored)


def _baseline(data: ScoringInput, late_days: int) -> Baseline:
    """No champion: the baseline, its prior the late share of every outcome known at `now`."""
    _, y, _ = training_rows(data.history.invoices, late_days=late_days, events=data.history.events, as_of=data.now)
    if len(y) == 0:
        return Baseline(prior=NO_HISTORY_PRIOR, late_days=late_days)
    return Baseline.fit(y, late_days=late_days)


def customer_score(session: Session, settings: Settings, customer: Customer) -> ScoreOut:
    """The score the cycle would use for this customer now, with its band in the customer's policy."""
    try:
        policy = policy_service.policy_for(session, customer.policy_name)
    except NotFound:  # nothing stored yet (the first start stores it): the shipped default applies
        policy = policy_service.validate(policy_service.DEFAULT, policy_service.default_document())
    stored = scores.newest(session, [customer.id]).get(customer.id)
    if stored is not None:
        return ScoreOut(
            customer_external_id=customer.external_id,
            probability=stored.probability,
            band=policy.band_for(stored.probability).name,
            model_version=stored.model_version,
            reasons=list(stored.reasons),
            currency=stored.currency,
            scored_at=stored.scored_at,
            stored=True,
        )
    risk = baseline_risks(session, settings.late_days_threshold, {customer.id})[customer.id]
    return ScoreOut(
        customer_external_id=customer.external_id,
        probability=risk.probability,
        band=policy.band_for(risk.probability).name,
        model_version=BASELINE,
        reasons=["never scored: this is the baseline, computed now", *risk.reasons],
        currency=None,
        scored_at=None,
        stored=False,
    )
