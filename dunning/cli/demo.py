"""`main.py demo`: a generated portfolio loaded through the ledger, scored, and one cycle planned.

Two years of history up to today (dunning/simulation.py: payer types, seasons, defaulters), so
that a model trains, open overdue invoices exist, and the embedded worker has reminders to
write under var/outbox/ within seconds of `make run`. `DUNNING_DEMO=true` does the same at
`serve` start-up when the database has no customers.

Everything is fictional: e-mail addresses on example.com/.org/.net, phone numbers in ranges
reserved for drama, made-up addresses. The British and French fictional ranges are refused by
the phone validation (libphonenumber knows they are not real numbers), so those customers have
no phone; the American and German ones pass. The demo refuses to run when a real transport
(SMTP, Twilio, a letter provider, an agency webhook) is configured: made-up customers must not
reach real people or cost postage.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import numpy as np
import phonenumbers
import typer
from sqlalchemy import func, select
from sqlmodel import Session

from dunning.cases.cycle import run_cycle
from dunning.cli.base import app, console, domain_errors, open_database
from dunning.clock import Clock, SystemClock
from dunning.config import Settings, get_settings
from dunning.db import Database
from dunning.errors import Conflict
from dunning.ledger import service as ledger
from dunning.ledger.batch import Batch
from dunning.ledger.models import Customer
from dunning.ledger.schemas import CustomerIn, InvoiceIn
from dunning.money import as_string
from dunning.scoring import jobs as scoring_jobs
from dunning.simulation import Portfolio, generate_portfolio
from dunning.words import plural

YEARS = 2
INVOICES_PER_CUSTOMER = 12
CHUNK = 5_000

_STREETS = {
    "GB": ("{n} {s}\n{city}\n{code}\nUnited Kingdom", ["High Street", "Station Road", "Church Lane", "Mill Road"],
           [("London", "EC1A 1AA"), ("Leeds", "LS1 4AP"), ("Bristol", "BS1 5TR"), ("York", "YO1 7HH")]),
    "FR": ("{n} {s}\n{code} {city}\nFrance", ["rue de la République", "avenue Jean Jaurès", "rue Victor Hugo"],
           [("Paris", "75002"), ("Lyon", "69002"), ("Nantes", "44000"), ("Lille", "59000")]),
    "DE": ("{s} {n}\n{code} {city}\nDeutschland", ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schulstraße"],
           [("Berlin", "10115"), ("Hamburg", "20095"), ("Köln", "50667"), ("München", "80331")]),
    "US": ("{n} {s}\n{city} {code}\nUnited States", ["Main Street", "Oak Avenue", "Maple Drive", "Elm Street"],
           [("Springfield, IL", "62701"), ("Portland, OR", "97201"), ("Austin, TX", "78701"), ("Albany, NY", "12207")]),
}


@dataclass
class DemoReport:
    customers: int
    invoices: int
    open_invoices: int
    training: str
    scored: int
    planned: int


def real_transports(settings: Settings) -> list[str]:
    configured = {"DUNNING_SMTP_HOST": settings.smtp_host, "DUNNING_TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
                  "DUNNING_LETTER_PROVIDER_URL": settings.letter_provider_url,
                  "DUNNING_AGENCY_WEBHOOK_URL": settings.agency_webhook_url}
    return [name for name, value in configured.items() if value]


def is_empty(db: Database) -> bool:
    with db.session() as session:
        return not session.execute(select(func.count()).select_from(Customer)).scalar()


def load_demo(db: Database, clock: Clock, settings: Settings, *, customers: int = 200, seed: int = 0) -> DemoReport:
    if real_transports(settings):
        raise Conflict("the demo's customers are made up; it does not run while a real transport is configured "
                       f"({', '.join(real_transports(settings))})")
    if not is_empty(db):
        raise Conflict("the demo loads into an empty database; this one has customers already "
                       "(point DUNNING_DATABASE_URL at a new one)")
    today = clock.now().date()
    portfolio = generate_portfolio(customers, INVOICES_PER_CUSTOMER, today - timedelta(days=365 * YEARS), today, seed)
    with db.session() as session:
        invoices = push_portfolio(session, clock, portfolio, seed=seed)
    trained = scoring_jobs.retrain(db, clock, settings, actor="demo")
    scored = scoring_jobs.rescore(db, clock, settings) if not trained.promoted else None
    with db.session() as session:
        cycle = run_cycle(session, clock, settings)
    open_count = int(portfolio.invoices["paid_on"].isna().sum())
    return DemoReport(len(portfolio.customers), invoices, open_count, trained.message,
                      scored.customers if scored else _scored(db), len(cycle.planned))


def push_portfolio(session: Session, clock: Clock, portfolio: Portfolio, *, seed: int = 0) -> int:
    """The portfolio through the ledger's own validation and upsert, as an accounting system pushes it."""
    ledger.push_customers(session, clock, Batch.of(CustomerIn, _customers(portfolio.customers, seed)))
    invoices = _invoices(portfolio.invoice_records())
    for start in range(0, len(invoices), CHUNK):
        ledger.push_invoices(session, clock, Batch.of(InvoiceIn, invoices[start:start + CHUNK]))
    return len(invoices)


def _customers(frame, seed: int) -> list[CustomerIn]:
    rng = np.random.default_rng(seed + 1)
    out = []
    for row in frame.itertuples():
        template, streets, cities = _STREETS[row.country]
        city, code = cities[rng.integers(len(cities))]
        address = template.format(n=int(rng.integers(1, 200)), s=streets[rng.integers(len(streets))], city=city,
                                  code=code)
        phone = row.phone if phonenumbers.is_valid_number(phonenumbers.parse(row.phone)) else None
        out.append(CustomerIn(external_id=row.external_id, name=row.name, email=row.email, phone=phone,
                              language=row.language, timezone=row.timezone, country=row.country, kind=row.kind,
                              address=address, tags=["demo", row.payer_type]))
    return out


def _invoices(records: list[dict]) -> list[InvoiceIn]:
    return [InvoiceIn(external_id=r["external_id"], customer_external_id=r["customer_external_id"],
                      number=r["number"], currency=r["currency"], total=as_string(r["total_minor"], r["currency"]),
                      issued_on=r["issued_on"], due_on=r["due_on"], paid_on=r["paid_on"])
            for r in records]


def _scored(db: Database) -> int:
    from dunning.scoring import scores

    with db.session() as session:
        return len(scores.newest(session))


@app.command()
@domain_errors
def demo(customers: Annotated[int, typer.Option(min=10, max=20_000, help="how many customers")] = 200,
         seed: Annotated[int, typer.Option(help="same seed, same portfolio")] = 0) -> None:
    """Load a made-up portfolio into an empty database, train, score and plan the first reminders."""
    settings = get_settings()
    with console.status("generating and loading the demo portfolio..."):
        report = load_demo(open_database(settings), SystemClock(), settings, customers=customers, seed=seed)
    console.print(f"{report.customers} customers, {report.invoices} invoices ({report.open_invoices} open)")
    console.print(f"model: {report.training}")
    console.print(f"{report.scored} customers scored; first cycle: {plural(report.planned, 'message')} planned")
    console.print("next: `make run` (or `.venv/bin/python main.py serve`); reminders appear under "
                  f"{settings.outbox_dir}/ as the contact windows open")
