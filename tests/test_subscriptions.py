"""The events between the layers: every handler is subscribed, once, by every entry point, and a
missing subscription shows (a pushed account's case would not be looked at again)."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from dunning import subscriptions
from dunning.app import create_app
from dunning.cases.models import Case
from dunning.cases.sweep import on_accounts_changed
from dunning.cli.base import open_database
from dunning.events.catalogue import INTERNAL
from dunning.events.publish import subscribe, subscribers, unsubscribe
from dunning.scheduler import Worker
from tests.builders import customer, invoice
from tests.outbox.support import cycle

PACKAGE = Path(subscriptions.__file__).parent


@pytest.fixture
def reconnected():
    """Whatever a test takes apart, the next one finds connected."""
    yield
    subscriptions.connect()


def handlers_in_the_code() -> set[tuple[str, str]]:
    """Every module-level `on_<event>` function of the package: a handler written for an event."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        module = "dunning." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for node in ast.parse(path.read_text("utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("on_"):
                found.add((module, node.name))
    return found


def test_every_handler_in_the_code_is_subscribed_and_every_internal_event_heard():
    listed = {(handler.__module__, handler.__name__) for _, handler in subscriptions.SUBSCRIPTIONS}
    assert handlers_in_the_code() == listed
    heard = {event_type for event_type, _ in subscriptions.SUBSCRIPTIONS}
    assert set(INTERNAL) <= heard  # an internal event nobody hears would be published for nothing


def test_connecting_twice_subscribes_each_handler_once(reconnected):
    subscriptions.connect()
    subscriptions.connect()
    for event_type, handler in subscriptions.SUBSCRIPTIONS:
        assert subscribers(event_type).count(handler) == 1
    subscriptions.disconnect()
    assert not subscriptions.connected()


@pytest.mark.parametrize("entry", ["app", "command line", "worker"])
def test_every_entry_point_connects_the_subscriptions(entry, db, clock, settings, tmp_path, reconnected):
    subscriptions.disconnect()
    if entry == "app":
        create_app(settings, database=db, clock=clock, embedded_worker=False)
    elif entry == "command line":
        open_database(settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'cli.db'}"}), migrate=False)
    else:
        Worker(settings, db, clock)
    assert subscriptions.connected()


def test_without_the_ledgers_subscription_a_pushed_account_would_wait_a_day(client, db, clock, settings, reconnected):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("I1", "C1", due=date(2026, 2, 20))]})
    cycle(db, clock, settings)

    def decided() -> bool:
        with db.session() as s:
            return s.execute(select(Case.decided_at)).scalar_one() is not None

    def push_again(total: str) -> None:
        # Core, as the ledger writes: no ORM listener sees it, only the ledger's event
        body = {"invoices": [invoice("I1", "C1", due=date(2026, 2, 20), total=total)]}
        assert client.post("/v1/invoices/bulk", json=body).status_code == 200

    assert decided()
    unsubscribe("ledger.accounts_changed", on_accounts_changed)
    push_again("120.00")
    assert decided()  # nobody told the cases
    subscribe("ledger.accounts_changed", on_accounts_changed)
    push_again("130.00")
    assert not decided()  # marked: the next cycle looks at it again
