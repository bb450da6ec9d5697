"""The contact window is checked again when the message is about to go, in the customer's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.builders import customer, invoice
from tests.fakes.smtp import smtp_server
from tests.outbox.support import cycle, dispatch, messages, outbox_settings, seed, smtp

FRIDAY_19H_PARIS = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
FRIDAY_22H_PARIS = datetime(2026, 3, 6, 21, 0, tzinfo=UTC)
MONDAY_08H_PARIS = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)


@pytest.fixture
def server():
    with smtp_server() as running:
        yield running


def test_a_message_due_late_at_night_waits_for_the_next_business_morning(db, clock, settings, server):
    mail_settings = outbox_settings(settings, **smtp(server.port))
    ids = seed(
        db,
        clock,
        [customer("PARIS"), customer("NEWYORK", timezone="America/New_York", country="US")],
        [invoice("I1", "PARIS", due=date(2026, 2, 20)), invoice("I2", "NEWYORK", due=date(2026, 2, 20))],
    )
    clock.set(FRIDAY_19H_PARIS)
    planned = cycle(db, clock, mail_settings).planned
    assert {o.send_at for o in planned} == {FRIDAY_19H_PARIS}  # both in their windows when planned

    clock.set(FRIDAY_22H_PARIS)  # the dispatcher was down for three hours: 16:00 in New York
    counts = dispatch(db, clock, mail_settings)

    assert (counts["sent"], counts["postponed"]) == (1, 1)
    assert [r.rcpt_tos for r in server.handler.received] == [["newyork@example.com"]]
    [paris] = messages(db, customer_id=ids["PARIS"])
    assert paris.status == "queued" and paris.attempts == 0 and paris.body_text is None
    assert paris.send_after == MONDAY_08H_PARIS  # not Saturday: the policy keeps to business days
    assert paris.last_error == "outside the customer's contact window"

    clock.set(MONDAY_08H_PARIS)
    assert dispatch(db, clock, mail_settings)["sent"] == 1
    assert server.handler.received[-1].rcpt_tos == ["paris@example.com"]
