"""Scoring customers from the ledger, storing scores, and the cycle reading them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from dunning.audit import AuditEvent
from dunning.cases.models import Case
from dunning.ledger import service as ledger_service
from dunning.ledger.batch import Batch
from dunning.ledger.models import Customer, Invoice
from dunning.ledger.schemas import CustomerIn, InvoiceIn
from dunning.scoring import rescore as rescoring
from dunning.scoring import scores, service
from dunning.scoring.baseline import Baseline
from dunning.scoring.data import load_history
from dunning.scoring.features import scoring_rows, training_rows
from dunning.scoring.models import ModelVersion, PayDatePrediction, Score
from dunning.scoring.risk import risks
from tests.outbox.support import cycle
from tests.scoring.ledger import as_of, push, world

WORLD = world()


def rescore(db, clock, settings) -> rescoring.RescoreResult:
    with db.session() as s:
        return rescoring.rescore(s, clock, settings)


def stored(db) -> dict[int, scores.StoredScore]:
    with db.session() as s:
        return scores.newest(s)


def test_the_baseline_scores_each_customer_with_open_invoices_weighted_by_what_is_open(db, clock, settings):
    push(db, clock, as_of(WORLD, clock.now().date()))
    result = rescore(db, clock, settings)
    assert result.scorer == "baseline" and result.scored_at == clock.now()
    with db.session() as s:
        owing = set(s.execute(select(Invoice.customer_id).where(Invoice.balance_minor > 0)).scalars())
        history = load_history(s)
    got = stored(db)
    assert set(got) == owing and result.customers == result.written == len(owing)

    # One customer by hand: the baseline's probability of each open invoice, weighted by its balance.
    cid = max(owing, key=lambda c: (got[c].open_invoices, c))
    inv = history.invoices
    X, meta = scoring_rows(inv, clock.now(), events=history.events)
    _, y, _ = training_rows(inv, as_of=clock.now())
    mine = (meta["customer_id"] == cid).to_numpy()
    p = Baseline.fit(y).predict_proba(X[mine])
    w = inv.loc[meta.index[mine], "open_minor"].to_numpy()
    assert got[cid].open_invoices == mine.sum() >= 2
    assert got[cid].probability == pytest.approx(float(np.average(p, weights=w)), abs=1e-6)
    assert got[cid].model_version == "baseline" and got[cid].reasons[0].startswith("baseline: ")


def test_a_second_rescore_of_the_same_ledger_appends_nothing_and_a_later_one_does(db, clock, settings):
    push(db, clock, as_of(WORLD, clock.now().date()))
    first = rescore(db, clock, settings)
    assert rescore(db, clock, settings).written == 0
    clock.advance(days=1)  # a day later some features move (days since payment, overdue counts)
    assert rescore(db, clock, settings).written > 0
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Score)).scalar() > first.customers


def test_scores_are_time_honest_later_payments_and_invoices_change_nothing(db, clock, settings):
    """Scoring as of T from a ledger that already holds months after T gives the same scores as
    the ledger known at T: nothing dated from T on is read. (At midnight, so that "known at T"
    means dated before T for both; during a day, that day's payments count as known.)"""
    day = clock.now().date()
    clock.set(datetime(day.year, day.month, day.day, tzinfo=UTC))
    push(db, clock, as_of(WORLD, day))
    with db.session() as s:
        then = rescoring.score_customers(rescoring.read_for_scoring(s, clock), 15)
    push(db, clock, as_of(WORLD, day + timedelta(days=90)))
    with db.session() as s:
        later = rescoring.score_customers(rescoring.read_for_scoring(s, clock), 15)
    assert len(then.scores) > 50 and len(then.pay_dates) > 50 and then == later


def test_the_champion_scores_with_its_version_and_reasons(db, clock, settings):
    push(db, clock, as_of(WORLD, clock.now().date()))
    with db.session() as s:
        trained = service.train(s, clock, settings)
    result = rescore(db, clock, settings)
    assert result.scorer == trained.version
    got = list(stored(db).values())
    assert {g.model_version for g in got} == {trained.version}
    assert all(0 < g.probability < 1 and 1 <= len(g.reasons) <= 3 for g in got)
    riskiest = max(got, key=lambda g: g.probability)
    assert riskiest.probability > 0.5, riskiest  # the world has chronic payers and defaulters
    # The same pass predicts payment dates with the version's model, once it beat the baseline.
    with db.session() as s:
        predicts = s.execute(select(ModelVersion)).scalar_one().metrics["pay_dates"]["predicts"]
    assert {p.model_version for p in predictions(db).values()} == {trained.version if predicts else "baseline"}


def predictions(db) -> dict[int, PayDatePrediction]:
    with db.session() as s:
        return {p.invoice_id: p for p in s.execute(select(PayDatePrediction)).scalars()}


def open_invoices(db) -> set[int]:
    with db.session() as s:
        return set(s.execute(select(Invoice.id).where(Invoice.balance_minor > 0)).scalars())


def test_the_rescore_predicts_each_open_invoices_payment_date_and_replaces_the_predictions(db, clock, settings):
    day = clock.now().date()
    push(db, clock, as_of(WORLD, day))
    first = rescore(db, clock, settings)
    got = predictions(db)
    assert set(got) == open_invoices(db) and first.pay_dates == len(got) > 50
    assert all(p.q10_days <= p.q50_days <= p.q90_days and p.predicted_at == clock.now() for p in got.values())
    assert {p.model_version for p in got.values()} == {"baseline"}
    # A chronic late payer is expected later than a punctual one.
    by_customer: dict[int, list[float]] = {}
    for p in got.values():
        by_customer.setdefault(p.customer_id, []).append(p.q50_days)
    medians = sorted(float(np.median(v)) for v in by_customer.values())
    assert medians[-1] > medians[0] + 10

    # Six weeks on, some were paid and others raised: the table holds exactly the invoices open now.
    clock.advance(days=42)
    push(db, clock, as_of(WORLD, clock.now().date()))
    rescore(db, clock, settings)
    again = predictions(db)
    assert set(again) == open_invoices(db) and set(got) - set(again) and set(again) - set(got)
    assert {p.predicted_at for p in again.values()} == {clock.now()}


def customer_with_two_accounts(db, clock):
    """On time in EUR for a year, 40 days late in USD: one invoice open in each."""
    rows = []
    for i in range(4):
        issued = date(2025, 1, 1) + timedelta(days=60 * i)
        rows.append(
            InvoiceIn(
                external_id=f"E{i}",
                customer_external_id="C1",
                number=f"E{i}",
                currency="EUR",
                total="100.00",
                issued_on=issued,
                due_on=issued + timedelta(days=30),
                paid_on=issued + timedelta(days=28),
            )
        )
        rows.append(
            InvoiceIn(
                external_id=f"U{i}",
                customer_external_id="C1",
                number=f"U{i}",
                currency="USD",
                total="100.00",
                issued_on=issued,
                due_on=issued + timedelta(days=30),
                paid_on=issued + timedelta(days=70),
            )
        )
    for cur in ("EUR", "USD"):
        rows.append(
            InvoiceIn(
                external_id=f"open-{cur}",
                customer_external_id="C1",
                number=f"O-{cur}",
                currency=cur,
                total="100.00",
                issued_on=date(2026, 1, 5),
                due_on=date(2026, 2, 4),
            )
        )
    with db.session() as s:
        ledger_service.push_customers(s, clock, Batch.of(CustomerIn, [CustomerIn(external_id="C1", name="One")]))
        ledger_service.push_invoices(s, clock, Batch.of(InvoiceIn, rows))
        return s.execute(select(Customer.id)).scalar_one()


def test_a_customer_owing_in_two_currencies_is_scored_by_its_riskiest_account(db, clock, settings):
    cid = customer_with_two_accounts(db, clock)
    rescore(db, clock, settings)
    got = stored(db)[cid]
    assert got.currency == "USD" and got.open_invoices == 1
    assert got.reasons == ("baseline: paid 4 of 4 earlier invoices more than 15 days late",)


# --- what the cycle reads ----------------------------------------------------------------------


def add_score(db, cid: int, p: float, at: datetime, version: str = "v1") -> None:
    with db.session() as s:
        s.add(
            Score(
                customer_id=cid, currency="EUR", probability=p, model_version=version, reasons=[f"p={p}"], scored_at=at
            )
        )


def test_risks_read_the_newest_score_and_fall_back_to_the_baseline(db, clock, settings):
    cid = customer_with_two_accounts(db, clock)
    with db.session() as s:
        ledger_service.push_customers(s, clock, Batch.of(CustomerIn, [CustomerIn(external_id="C2", name="Two")]))
        never = s.execute(select(Customer.id).where(Customer.external_id == "C2")).scalar_one()
    now = clock.now()
    add_score(db, cid, 0.3, now - timedelta(days=2))
    add_score(db, cid, 0.7, now)
    add_score(db, cid, 0.5, now - timedelta(days=1))  # written last, but about an earlier moment
    with db.session() as s:
        got = risks(s, 15, {cid, never})
        many = risks(s, 15, {cid, never} | set(range(10_000, 10_000 + scores.FEW)))  # the "read all" path
    assert (got[cid].probability, got[cid].source, got[cid].reasons) == (0.7, "v1", ("p=0.7",))
    assert got[never].source == "baseline" and "new customer" in got[never].reasons[0]
    assert many[cid] == got[cid] and many[never] == got[never] and len(many) == scores.FEW + 2


def test_the_cycle_bands_cases_by_the_stored_score_and_audits_the_change(db, clock, settings):
    cid = customer_with_two_accounts(db, clock)
    add_score(db, cid, 0.05, clock.now() - timedelta(hours=1))
    cycle(db, clock, settings)
    with db.session() as s:
        assert {c.band for c in s.execute(select(Case)).scalars()} == {"low"}
    add_score(db, cid, 0.9, clock.now(), version="v2")
    cycle(db, clock, settings)
    with db.session() as s:
        cases = list(s.execute(select(Case)).scalars())
        events = list(s.execute(select(AuditEvent).where(AuditEvent.action == "case.band_changed")).scalars())
    assert {c.band for c in cases} == {"high"} and {c.risk for c in cases} == {0.9}
    assert {(e.data["old_band"], e.data["new_band"], e.data["source"]) for e in events} == {("low", "high", "v2")}


def test_scores_round_trip_with_utc_times(db, clock):
    cid = customer_with_two_accounts(db, clock)
    at = datetime(2026, 3, 2, 2, 0, 0, 123000, tzinfo=UTC)
    with db.session() as s:
        assert scores.append(s, [scores.StoredScore(cid, "EUR", 0.25, "v", ("a", "b"), 2, at)]) == 1
    assert stored(db)[cid] == scores.StoredScore(cid, "EUR", 0.25, "v", ("a", "b"), 2, at)
