"""A generated world, pushed into the service's ledger as an accounting system would have known it
on a given day: invoices issued before it, payments made before it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd

from dunning.demo import push_portfolio
from dunning.simulation import Portfolio, generate_portfolio

WORLD_START, WORLD_END = date(2024, 1, 1), date(2026, 7, 1)


def world(customers: int = 150, seed: int = 3) -> Portfolio:
    return generate_portfolio(customers, 12, WORLD_START, WORLD_END, seed=seed)


def as_of(portfolio: Portfolio, day: date) -> Portfolio:
    cut = pd.Timestamp(day)
    inv = portfolio.invoices[portfolio.invoices["issued_on"] < cut].copy()
    later = inv["paid_on"] >= cut
    inv.loc[later, "paid_on"] = pd.NaT
    inv.loc[later, "balance_minor"] = inv.loc[later, "total_minor"]
    customers = portfolio.customers[portfolio.customers["external_id"].isin(inv["customer_external_id"])]
    return replace(portfolio, customers=customers, invoices=inv, events={}, end=day)


def push(db, clock, portfolio: Portfolio) -> int:
    with db.session() as session:
        return push_portfolio(session, clock, portfolio)
