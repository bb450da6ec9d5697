"""The worklist ranked by what is at stake: a large, risky, unpromised debt comes first, a small
safe one after it, a promised one below the unpromised; the team can still sort by due date."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from dunning.config import Settings
from dunning.forecast import service
from dunning.tasks import service as task_service
from tests.builders import customer, invoice
from tests.forecast.support import predict, promise, seed
from tests.web.support import desk

TODAY = date(2026, 3, 2)


@pytest.fixture
def tasks(db, clock):
    """One task per customer; due dates in the opposite order of what is at stake."""
    ids = seed(
        db,
        clock,
        [customer(c, name=c.title()) for c in ("BIG", "SMALL", "PROMISED", "YEN")],
        [
            invoice("B1", "BIG", due=date(2026, 1, 1), total="10000.00"),  # 60 days late, a slow payer
            invoice("S1", "SMALL", due=date(2026, 3, 12), total="100.00"),  # not due yet, usually on time
            invoice("P1", "PROMISED", due=date(2026, 1, 1), total="10000.00"),  # as risky as BIG, but promised
            invoice("Y1", "YEN", due=date(2026, 1, 1), total="500000", currency="JPY"),  # ≈ EUR 3,000
        ],
    )
    predict(db, clock, {"B1": (20, 45, 120), "S1": (-5, 5, 40), "P1": (20, 45, 120), "Y1": (20, 45, 120)})
    promise(db, clock, ids["PROMISED"], 1_000_000, date(2026, 3, 20))
    out = {}
    with db.session() as s:
        for day, name in enumerate(("PROMISED", "SMALL", "YEN", "BIG"), start=3):
            out[name] = task_service.create(
                s,
                clock,
                kind="call",
                title=f"Call {name.title()}",
                detail=None,
                customer=name,
                due_at=datetime(2026, 3, day, 9, tzinfo=UTC),
                assignee=None,
                actor="test",
            ).id
    return ids, out


def order_of(html: str) -> list[int]:
    tasks = html.split('id="tasks"', 1)[1]
    return [int(t) for t in re.findall(r'data-task="(\d+)"', tasks)]


def test_the_cash_at_risk_ranks_big_risky_unpromised_debt_first(db, tasks):
    ids, _ = tasks
    with db.session() as s:
        risks = service.at_risk(s, TODAY, 30, ids.values())
    big, small, promised = (risks[(ids[c], "EUR")] for c in ("BIG", "SMALL", "PROMISED"))
    assert big.at_risk > small.at_risk > promised.at_risk == 0
    assert big.likelihood > 0.5 > small.likelihood > 0  # 60 days late and slow, against not even due
    assert (promised.promised, promised.unpromised) == (1_000_000, 0)


def test_the_worklist_puts_what_is_at_stake_first_and_says_why(app, db, clock, tasks):
    _, task = tasks
    agent, _ = desk(app, db, clock, "agent")
    page = agent.get("/desk/worklist").text
    # without ranking rates a yen counts as a euro: ¥500,000 outranks €10,000
    assert order_of(page) == [task["YEN"], task["BIG"], task["SMALL"], task["PROMISED"]]
    reasons = re.findall(r"<div class=\"small muted\" data-at-risk>([^<]*)</div>", page)
    assert re.fullmatch(r"€[\d,]+\.\d\d at risk: 1 invoice, \d\d% likely unpaid in 30 days", reasons[1])
    assert reasons[3] == "€0.00 at risk: 1 invoice, 0% likely unpaid in 30 days; €10,000.00 promised"
    assert 'data-order="at_stake" class="active"' in page

    by_due = agent.get("/desk/worklist?order=due").text
    assert order_of(by_due) == [task["PROMISED"], task["SMALL"], task["YEN"], task["BIG"]]
    assert agent.get("/desk/worklist?order=sideways").status_code == 422


def test_ranking_rates_make_currencies_comparable(app, db, clock, tasks):
    _, task = tasks
    app.state.settings = Settings(**{**app.state.settings.model_dump(), "ranking_rates": {"JPY": 0.0062}})
    agent, _ = desk(app, db, clock, "agent")
    assert order_of(agent.get("/desk/worklist").text) == [task["BIG"], task["YEN"], task["SMALL"], task["PROMISED"]]


def test_a_promise_lowers_the_risk_to_the_unpromised_part(db, clock, tasks):
    ids, _ = tasks
    with db.session() as s:
        before = service.at_risk(s, TODAY, 30, [ids["BIG"]])[(ids["BIG"], "EUR")]
    promise(db, clock, ids["BIG"], 400_000, date(2026, 3, 10))
    with db.session() as s:
        after = service.at_risk(s, TODAY, 30, [ids["BIG"]])[(ids["BIG"], "EUR")]
    assert (after.promised, after.unpromised) == (400_000, 600_000)
    assert after.at_risk == pytest.approx(before.at_risk * 0.6, abs=1)
