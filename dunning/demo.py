"""The demo: a generated portfolio loaded through the ledger, scored, and one cycle planned.

Two years of history up to today (dunning/simulation.py: payer types, seasons, defaulters), so
that a model trains, open overdue invoices exist, and the embedded worker has reminders to
write under var/outbox/ within seconds of `make run`. `main.py demo` loads it; `DUNNING_DEMO=true`
makes the service work on the demo's own database (<var_dir>/demo.db unless DUNNING_DATABASE_URL
names one), loading it at `serve` start-up when that database has no customers.

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

import numpy as np
import phonenumbers
from sqlalchemy import func, select
from sqlmodel import Session

from dunning.cases.cycle import run_cycle
from dunning.clock import Clock
from dunning.config import Settings, default_database_url, masked_url
from dunning.db import Database
from dunning.errors import Conflict
from dunning.ledger import service as ledger_service
from dunning.ledger.batch import Batch
from dunning.ledger.models import Customer
from dunning.ledger.schemas import CustomerIn, InvoiceIn
from dunning.money import as_string
from dunning.scoring import jobs as scoring_jobs
from dunning.simulation import Portfolio, generate_portfolio

YEARS = 2
INVOICES_PER_CUSTOMER = 12
CHUNK = 5_000
DEMO_ENV = "DUNNING_DEMO=true "  # what makes a command, or the server, work on the demo's database

_STREETS = {
    "GB": (
        "{n} {s}\n{city}\n{code}\nUnited Kingdom",
        ["High Street", "Station Road", "Church Lane", "Mill Road"],
        [("London", "EC1A 1AA"), ("Leeds", "LS1 4AP"), ("Bristol", "BS1 5TR"), ("York", "YO1 7HH")],
    ),
    "FR": (
        "{n} {s}\n{code} {city}\nFrance",
        ["rue de la République", "avenue Jean Jaurès", "rue Victor Hugo"],
        [("Paris", "75002"), ("Lyon", "69002"), ("Nantes", "44000"), ("Lille", "59000")],
    ),
    "DE": (
        "{s} {n}\n{code} {city}\nDeutschland",
        ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schulstraße"],
        [("Berlin", "10115"), ("Hamburg", "20095"), ("Köln", "50667"), ("München", "80331")],
    ),
    "US": (
        "{n} {s}\n{city} {code}\nUnited States",
        ["Main Street", "Oak Avenue", "Maple Drive", "Elm Street"],
        [("Springfield, IL", "62701"), ("Portland, OR", "97201"), ("Austin, TX", "78701"), ("Albany, NY", "12207")],
    ),
}


@dataclass
class DemoReport:
    customers: int
    invoices: int
    open_invoices: int
    training: str
    scored: int
    planned: int


REAL_TRANSPORT_SETTINGS = {
    "email": "DUNNING_SMTP_HOST",
    "sms": "DUNNING_TWILIO_ACCOUNT_SID",
    "letter": "DUNNING_LETTER_PROVIDER_URL",
    "agency": "DUNNING_AGENCY_WEBHOOK_URL",
}


def real_transports(settings: Settings) -> list[str]:
    return [REAL_TRANSPORT_SETTINGS[channel] for channel, value in settings.real_providers().items() if value]


def is_empty(db: Database) -> bool:
    with db.session() as session:
        return not session.execute(select(func.count()).select_from(Customer)).scalar()


def load_demo(db: Database, clock: Clock, settings: Settings, *, customers: int = 200, seed: int = 0) -> DemoReport:
    if real_transports(settings):
        raise Conflict(
            "the demo's customers are made up; it does not run while a real transport is configured "
            f"({', '.join(real_transports(settings))})"
        )
    if not is_empty(db):
        raise Conflict(occupied(settings))
    today = clock.now().date()
    portfolio = generate_portfolio(customers, INVOICES_PER_CUSTOMER, today - timedelta(days=365 * YEARS), today, seed)
    with db.session() as session:
        invoices = push_portfolio(session, clock, portfolio, seed=seed)
    trained = scoring_jobs.retrain(db, clock, settings, actor="demo")
    scored = scoring_jobs.rescore(db, clock, settings) if not trained.promoted else None
    with db.session() as session:
        cycle = run_cycle(session, clock, settings)
    open_count = int(portfolio.invoices["paid_on"].isna().sum())
    return DemoReport(
        len(portfolio.customers),
        invoices,
        open_count,
        trained.message,
        scored.customers if scored else _scored(db),
        len(cycle.planned),
    )


def push_portfolio(session: Session, clock: Clock, portfolio: Portfolio, *, seed: int = 0) -> int:
    """The portfolio through the ledger's own validation and upsert, as an accounting system pushes it."""
    ledger_service.push_customers(session, clock, Batch.of(CustomerIn, _customers(portfolio.customers, seed)))
    invoices = _invoices(portfolio.invoice_records())
    for start in range(0, len(invoices), CHUNK):
        ledger_service.push_invoices(session, clock, Batch.of(InvoiceIn, invoices[start : start + CHUNK]))
    return len(invoices)


def _customers(frame, seed: int) -> list[CustomerIn]:
    rng = np.random.default_rng(seed + 1)
    out = []
    for row in frame.itertuples():
        template, streets, cities = _STREETS[row.country]
        city, code = cities[rng.integers(len(cities))]
        address = template.format(
            n=int(rng.integers(1, 200)), s=streets[rng.integers(len(streets))], city=city, code=code
        )
        phone = row.phone if phonenumbers.is_valid_number(phonenumbers.parse(row.phone)) else None
        out.append(
            CustomerIn(
                external_id=row.external_id,
                name=row.name,
                email=row.email,
                phone=phone,
                language=row.language,
                timezone=row.timezone,
                country=row.country,
                kind=row.kind,
                address=address,
                tags=["demo", row.payer_type],
            )
        )
    return out


def _invoices(records: list[dict]) -> list[InvoiceIn]:
    return [
        InvoiceIn(
            external_id=r["external_id"],
            customer_external_id=r["customer_external_id"],
            number=r["number"],
            currency=r["currency"],
            total=as_string(r["total_minor"], r["currency"]),
            issued_on=r["issued_on"],
            due_on=r["due_on"],
            paid_on=r["paid_on"],
        )
        for r in records
    ]


def _scored(db: Database) -> int:
    from dunning.scoring import scores

    with db.session() as session:
        return len(scores.newest(session))


def occupied(settings: Settings) -> str:
    """Why the demo will not load here, and the command that will."""
    where = masked_url(settings.database_url)
    if settings.database_url == default_database_url(settings.var_dir, demo=True):
        return (
            f"the demo is loaded already in {where}: serve it with `{DEMO_ENV}make run`, or remove the file "
            "to load a new one"
        )
    return (
        f"the demo loads into an empty database, and {where} has customers already; load it into its own: "
        f"`env -u DUNNING_DATABASE_URL .venv/bin/python main.py demo` (the demo's database, "
        f"{default_database_url(settings.var_dir, demo=True)}), or name an empty one in DUNNING_DATABASE_URL"
    )
