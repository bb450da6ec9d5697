"""Replies matched to the contact who wrote: a STOP from billing's number silences billing only, an
email from billing's address is that customer's and is shown with billing's name, and an answer
from an address none of the contacts has silences the whole customer."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import select

from dunning.contacts import OptOut
from dunning.contacts.models import Contact, ContactOptOut
from dunning.ledger.models import Customer
from dunning.records.replies import InboundMessage
from dunning.web.desk import timeline
from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import mail_in, seed, text_in

BILLING = {
    "external_id": "ap",
    "name": "Accounts Payable",
    "email": "ap@acme.example",
    "phone": "+33698765432",
    "roles": ["billing"],
}


def mail(text: str, sender: str, answering) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "collections@example.com", "Re: your invoice"
    msg["Message-ID"] = f"<{sender}.{len(text)}@acme.example>"
    msg["In-Reply-To"] = msg["References"] = answering.provider_id
    msg.set_content(text)
    return msg.as_bytes()


def replies(db) -> list[tuple[InboundMessage, str | None]]:
    with db.session() as s:
        return [
            (r, ext)
            for r, ext in s.execute(
                select(InboundMessage, Contact.external_id)
                .outerjoin(Contact, Contact.id == InboundMessage.contact_id)
                .order_by(InboundMessage.id)
            )
        ]


def stops(db) -> tuple[set[str], set[tuple[str, str]]]:
    """Customer-wide opt-outs, and each contact's own (external id, channel)."""
    with db.session() as s:
        return (
            set(s.execute(select(OptOut.channel)).scalars()),
            set(s.execute(select(Contact.external_id, ContactOptOut.channel).join(Contact)).all()),
        )


def test_stop_from_billings_number_silences_billing_only(client, anonymous, db, clock, settings, twilio):
    seed(client, first="sms", contacts=[BILLING])
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    assert [m["To"] for m in twilio.messages] == ["+33612345678"]  # the step writes to the primary
    r = text_in(anonymous, "STOP", sender="+33698765432")
    assert "<Message>" in r.text  # the confirmation, to the number that wrote
    [(row, contact)] = replies(db)
    assert (row.action, row.matched_by, contact) == ("opted_out", "phone", "ap")
    assert stops(db) == (set(), {("ap", "sms")})

    # the primary's number still answers for itself
    text_in(anonymous, "STOP")
    assert stops(db) == (set(), {("ap", "sms"), ("primary", "sms")})


def test_an_email_from_billing_is_matched_to_billing_and_shown_with_its_name(client, anonymous, db, clock, settings):
    seed(client, first="email", contacts=[BILLING])
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    body = mail_in(
        anonymous, mail("Nous contestons la facture, elle est fausse.", "Accounts Payable <ap@acme.example>", reminder)
    ).json()
    [(row, contact)] = replies(db)
    assert contact == "ap" and body["customer_id"] == reminder.customer_id
    assert any("Accounts Payable (Customer C1)" in t.title for t in tasks(db))
    with db.session() as s:  # the desk's customer page lists these events
        events = timeline.build(s, s.get(Customer, reminder.customer_id))
    assert [e.by for e in events if e.kind == "reply"] == ["from Accounts Payable"]


def test_an_answer_from_an_address_no_contact_has_silences_the_whole_customer(client, anonymous, db, clock, settings):
    seed(client, first="email", contacts=[BILLING])
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    mail_in(anonymous, mail("Please unsubscribe me from these emails.", "colleague@acme.example", reminder))
    [(row, contact)] = replies(db)
    assert row.customer_id == reminder.customer_id and contact is None
    assert stops(db) == ({"email"}, set())
