"""End to end by SMS: a reminder goes out through the twilio library, the customer answers
"je paierai vendredi", the promise pauses the case until Friday plus grace, no payment comes, the
promise breaks and the next step is planned."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from dunning.records.arrangements import Promise
from dunning.records.replies import InboundMessage
from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import PHONE, day, seed, text_in, the_case


def test_a_promise_by_sms_pauses_until_friday_plus_grace_then_breaks(client, anonymous, db, clock, settings, twilio):
    seed(client, first="sms")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    assert reminder.status == "sent" and reminder.step_key == "r1" and reminder.provider_id.startswith("SM")
    assert [m["To"] for m in twilio.messages] == [PHONE]

    # Monday 2 March 2026, 10:00 in Paris
    r = text_in(anonymous, "je paierai vendredi")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert r.text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message>')
    assert "06/03/2026" in r.text and "400,00" in r.text  # the date and the amount, repeated back in French

    with db.session() as s:
        promise = s.execute(select(Promise)).scalar_one()
        inbound = s.execute(select(InboundMessage)).scalar_one()
    assert (promise.promised_on, promise.grace_until, promise.amount_minor) == (
        date(2026, 3, 6),
        date(2026, 3, 8),
        40_000,
    )
    assert promise.source == "sms" and promise.status == "open"
    assert (inbound.intent, inbound.confidence, inbound.action) == ("promise_to_pay", 1.0, "promise_recorded")
    assert inbound.promise_id == promise.id and inbound.message_id == reminder.id and inbound.matched_by == "phone"
    assert inbound.extracted["promised_date"] == "2026-03-06" and inbound.answer_text in r.text
    case = the_case(db)
    # Sunday the 8th is the last day of grace: the pause ends at midnight, Paris time
    assert case.state == "paused" and case.paused_until == datetime(2026, 3, 8, 23, 0, tzinfo=UTC)
    assert len(twilio.messages) == 1  # the confirmation was the TwiML answer, not another SMS

    for _ in range(6):  # Tuesday to Sunday: the job, the cycle and dispatch every day, and nothing goes out
        day(db, clock, settings)
        assert [m.id for m in messages(db)] == [reminder.id]
        assert the_case(db).state == "paused"
    assert len(twilio.messages) == 1

    day(db, clock, settings)  # Monday 9 March: no payment came
    with db.session() as s:
        promise = s.get(Promise, promise.id)
    assert promise.status == "broken" and promise.paid_minor == 0 and promise.settled_at is not None
    assert the_case(db).state == "active"
    [broken] = tasks(db, kind="broken_promise")
    assert "broke a promise" in broken.title
    nxt = [m for m in messages(db) if m.id != reminder.id]
    assert [(m.step_key, m.channel) for m in nxt] == [("r2", "sms")]
    assert nxt[0].status == "sent" and len(twilio.messages) == 2  # planned at once, and out the same morning
