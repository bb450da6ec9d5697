"""Who reacts to whose events: every subscription of a higher layer to a lower one's events, in one
list (docs/architecture.md, "Events between the layers").

A lower layer never imports a higher one (the import-linter contracts in pyproject.toml); when it
must let one know something, it publishes an event and the higher layer's handler, subscribed
here, runs in the same transaction. Every entry point calls `connect()` (the app, the command
line's database, the worker, the tests' fixtures), so no reaction depends on which modules
happened to be imported.
"""

from __future__ import annotations

from dunning.cases import sweep
from dunning.cases.service import on_approval_decided
from dunning.events.publish import Subscriber, subscribe, subscribers, unsubscribe

SUBSCRIPTIONS: tuple[tuple[str, Subscriber], ...] = (
    # the ledger wrote accounts in bulk: the next cycle looks at their cases again
    ("ledger.accounts_changed", sweep.on_accounts_changed),
    # a person rejected a step in the outbox: the case waits for review
    ("approval.decided", on_approval_decided),
)


def connect() -> None:
    """Subscribe every handler once, and mark cases on ORM writes of what they depend on."""
    for event_type, handler in SUBSCRIPTIONS:
        if handler not in subscribers(event_type):
            subscribe(event_type, handler)
    sweep.listen()


def connected() -> bool:
    return sweep.listening() and all(handler in subscribers(kind) for kind, handler in SUBSCRIPTIONS)


def disconnect() -> None:
    for event_type, handler in SUBSCRIPTIONS:
        if handler in subscribers(event_type):
            unsubscribe(event_type, handler)
    sweep.stop_listening()
