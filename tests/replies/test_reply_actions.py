"""What each kind of reply makes the service do, and what it answers (SMS: the TwiML itself)."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

from sqlalchemy import select

from dunning.arrangements.jobs import run_once
from dunning.contacts import OptOut
from dunning.contacts.models import Contact, ContactOptOut
from dunning.records.arrangements import Dispute, Promise
from dunning.records.replies import InboundMessage
from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import day, seed, text_in, the_case


def answer(response) -> str | None:
    assert response.status_code == 200, response.text
    found = ElementTree.fromstring(response.text).find("Message")
    return found.text if found is not None else None


def inbound(db) -> list[InboundMessage]:
    with db.session() as s:
        return list(s.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars())


def start(client, db, clock, settings, **kw):
    seed(client, first="sms", **kw)
    cycle(db, clock, settings)
    dispatch(db, clock, settings)


def test_stop_gets_one_confirmation_then_silence_until_start(client, anonymous, db, clock, settings, twilio):
    start(client, db, clock, settings)
    first = answer(text_in(anonymous, "STOP"))
    assert "désabonné" in first and "START" in first
    with db.session() as s:
        # the contact who texted, by its number: the customer's own
        [stop] = s.execute(select(ContactOptOut, Contact.external_id).join(Contact)).all()
        assert (stop[0].channel, stop[1]) == ("sms", "primary") and s.execute(select(OptOut)).first() is None
    assert answer(text_in(anonymous, "Stop")) is None  # a second STOP gets no answer
    # whatever they write next is still acted on, but nothing is said back on this channel
    assert answer(text_in(anonymous, "je paierai vendredi")) is None
    assert answer(text_in(anonymous, "AIDE")) is None
    assert [r.action for r in inbound(db)] == ["opted_out", "already_opted_out", "promise_recorded", "help_sent"]
    assert len(twilio.messages) == 1  # never an outbound SMS for any of it

    back = answer(text_in(anonymous, "START"))
    assert "abonné" in back
    with db.session() as s:
        assert s.execute(select(ContactOptOut)).first() is None
    assert "+44 20 7946 0000" in answer(text_in(anonymous, "AIDE"))


def test_help_says_who_we_are_and_how_to_reach_a_person(client, anonymous, db, clock, settings):
    start(client, db, clock, settings)
    text = answer(text_in(anonymous, "HELP"))
    assert "Example Trading Ltd" in text and "+44 20 7946 0000" in text and "collections@example.com" in text
    assert inbound(db)[0].action == "help_sent" and not messages(db, template="help")


def test_an_unknown_number_gets_a_neutral_answer_and_a_task(client, anonymous, db, clock, settings):
    start(client, db, clock, settings)
    text = answer(text_in(anonymous, "I will pay on Friday", sender="+447700900999"))
    assert text == "Thank you for your message. Our team will look into it."  # nothing about any debt
    [row] = inbound(db)
    assert row.customer_id is None and row.matched_by == "none" and row.language == "en"
    [task] = tasks(db, kind="unknown_sender")
    assert "+447700900999" in task.title and "I will pay on Friday" in task.detail
    assert row.task_id == task.id
    with db.session() as s:
        assert s.execute(select(Promise)).first() is None
    # with no customer to tell us, the language is the one the text reads best in
    assert answer(text_in(anonymous, "je paierai vendredi", sender="+33699999999")).startswith("Merci")


def test_a_reading_below_full_confidence_goes_to_a_person_instead_of_acting(client, anonymous, db, clock, settings):
    start(client, db, clock, settings)
    text = answer(text_in(anonymous, "je vais essayer de payer vendredi"))  # hedged
    assert "équipe" in text
    [row] = inbound(db)
    assert (row.intent, row.action) == ("promise_to_pay", "task") and row.confidence < 1
    [task] = tasks(db, kind="reply")
    assert "promise_to_pay" in task.title and "hedged" in task.detail and task.data["inbound_id"] == row.id
    with db.session() as s:
        assert s.execute(select(Promise)).first() is None
    assert the_case(db).state == "active"


def test_already_paid_pauses_briefly_and_asks_a_person_to_check(client, anonymous, db, clock, settings):
    start(client, db, clock, settings)
    answer(text_in(anonymous, "j'ai déjà payé"))
    case = the_case(db)
    assert case.state == "paused" and case.pause_reason == "payment_check"
    assert case.paused_until - clock.now() > timedelta(days=settings.already_paid_pause_days)
    [task] = tasks(db, kind="reply")
    assert "Check the payment" in task.title
    for _ in range(settings.already_paid_pause_days):
        day(db, clock, settings)
        assert the_case(db).state == "paused"
    day(db, clock, settings)  # no money came: reminders resume
    assert the_case(db).state == "active"


def test_already_paid_and_the_money_arrives_closes_the_case(client, anonymous, db, clock, settings):
    start(client, db, clock, settings)
    answer(text_in(anonymous, "j'ai déjà payé"))
    client.post(
        "/v1/payments/bulk",
        json={
            "payments": [
                {
                    "external_id": "P1",
                    "customer_external_id": "C1",
                    "currency": "EUR",
                    "amount": "400.00",
                    "received_on": "2026-03-02",
                }
            ]
        },
    )
    cycle(db, clock, settings)
    assert the_case(db).state == "closed"


def test_a_dispute_names_its_invoice_which_leaves_the_notices(client, anonymous, db, clock, settings):
    start(client, db, clock, settings, invoices=2)
    text = answer(text_in(anonymous, "je conteste la facture N-I2"))
    assert "N-I2" in text
    with db.session() as s:
        dispute = s.execute(select(Dispute)).scalar_one()
    assert (dispute.source, dispute.reason_code, dispute.status) == ("sms", "customer_reply", "open")
    [task] = tasks(db, kind="dispute")
    assert task.id == dispute.task_id == inbound(db)[0].task_id and task.due_at is not None
    for _ in range(14):  # the rest of the case goes on without the disputed invoice
        day(db, clock, settings)
    later = [m for m in messages(db) if m.step_key == "r2"]
    assert later and all(m.context["invoices"] == ["N-I1"] for m in later)


def test_a_dispute_without_a_known_invoice_asks_a_person_which(client, anonymous, db, clock, settings):
    start(client, db, clock, settings)
    answer(text_in(anonymous, "je conteste la facture 9999"))
    [task] = tasks(db, kind="dispute")
    assert task.title.startswith("Which invoice")
    with db.session() as s:
        assert s.execute(select(Dispute)).first() is None


def test_an_installment_request_and_a_callback_request_become_tasks(client, anonymous, db, clock, settings):
    start(client, db, clock, settings)
    answer(text_in(anonymous, "puis-je payer en 3 fois ?"))
    assert "appeler" in answer(text_in(anonymous, "pouvez-vous m'appeler ?"))
    assert "installment plan" in tasks(db, kind="reply")[0].title
    [call] = tasks(db, kind="call")
    assert "Call Customer C1 back" in call.title
    assert [r.action for r in inbound(db)] == ["task", "call_task"]


def test_a_customer_whose_promises_keep_breaking_cannot_pause_the_case(client, anonymous, db, clock, settings):
    start(client, db, clock, settings, max_broken=1)
    answer(text_in(anonymous, "je paierai demain"))
    assert the_case(db).state == "paused"
    for _ in range(4):
        day(db, clock, settings)
    assert the_case(db).state == "active"
    answer(text_in(anonymous, "je paierai demain"))
    with db.session() as s:
        statuses = [p.status for p in s.execute(select(Promise).order_by(Promise.id)).scalars()]
    assert statuses == ["broken", "open"]  # the first paused and broke; the second is only on record
    assert the_case(db).state == "active"
    rows = inbound(db)
    assert rows[-1].action == "promise_noted" and "appeler" in rows[-1].answer_text
    assert any("a new promise after 1 broken" in t.title for t in tasks(db, kind="call"))


def test_twilio_retrying_the_same_message_gets_the_same_answer_and_nothing_twice(
    client, anonymous, db, clock, settings
):
    start(client, db, clock, settings)
    first = text_in(anonymous, "je paierai vendredi", sid="SM" + "d" * 32)
    again = text_in(anonymous, "je paierai vendredi", sid="SM" + "d" * 32)
    assert first.text == again.text and "06/03/2026" in again.text
    assert len(inbound(db)) == 1
    run_once(db, clock, settings)
    with db.session() as s:
        assert len(s.execute(select(Promise)).all()) == 1
