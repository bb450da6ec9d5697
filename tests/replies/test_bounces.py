"""Bounces are not replies. Real notice formats (messages/bounce_*.eml: an RFC 3464 report, Gmail,
Postfix, Exim, qmail, Exchange Online), each returning the same reminder, are read for the failed
address, its status and the reminder they return; through the inbound webhook a permanent
failure of the address marks it invalid, cancels what is queued to it and opens one task."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from dunning.contacts.models import Contact
from dunning.outbox.models import CANCELLED, QUEUED
from dunning.records.replies import InboundMessage
from dunning.replies.bounces import ADDRESS, DELAYED, REFUSED, classify
from dunning.replies.mail import parse_inbound
from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import mail_in, seed

MESSAGES = Path(__file__).parent / "messages"
# What the fixtures return: this reminder, sent to this address, with this reply address.
FIXTURE_ID, FIXTURE_TO, FIXTURE_REPLY_TO = (
    "<dunning.42.9f1c2b3a4d5e6f70@acme.example>",
    "ap@globex.example",
    "collections+r7Kq2@acme.example",
)
PERMANENT = [
    "bounce_gmail_reminder.eml",
    "bounce_rfc3464.eml",
    "bounce_postfix.eml",
    "bounce_exim.eml",
    "bounce_qmail.eml",
    "bounce_exchange.eml",
]


def load(name: str):
    return parse_inbound((MESSAGES / name).read_bytes())


@pytest.mark.parametrize("name", PERMANENT)
def test_each_format_names_the_failed_address_and_the_reminder_it_returns(name):
    mail = load(name)
    assert mail.is_bounce and not mail.is_autoreply
    [failure] = mail.bounce.failures
    assert (failure.recipient, failure.kind) == (FIXTURE_TO, ADDRESS)
    assert failure.status in ("5.1.1", "5.1.10")
    assert FIXTURE_ID in mail.bounce.original_message_ids
    assert FIXTURE_REPLY_TO in mail.bounce.original_addresses  # as written: reply tokens are case-sensitive


def test_a_delay_and_a_spam_refusal_are_not_about_the_address():
    [delayed] = load("bounce_gmail_delayed.eml").bounce.failures
    assert (delayed.kind, delayed.status) == (DELAYED, "4.4.1")
    [refused] = load("bounce_spam_refused.eml").bounce.failures
    assert (refused.kind, refused.status) == (REFUSED, "5.7.1")


def test_replies_and_out_of_office_notices_are_not_bounces():
    for path in sorted(MESSAGES.glob("*.eml")):
        if not path.name.startswith("bounce_"):
            assert not parse_inbound(path.read_bytes()).is_bounce, path.name


@pytest.mark.parametrize(
    "status, diagnostic, action, kind",
    [
        ("5.1.1", "550 5.1.1 User unknown", "failed", ADDRESS),
        ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", "failed", ADDRESS),
        ("5.0.0", "550 No such user here", "failed", ADDRESS),
        ("5.2.1", "550-5.2.1 The email account that you tried to reach is disabled.", "failed", ADDRESS),
        (
            "5.2.1",
            "550-5.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
            "additional messages from being delivered.",
            "failed",
            REFUSED,
        ),
        ("5.1.1", "550 5.7.1 IP address blacklisted by recipient", "failed", REFUSED),  # the remote's own code wins
        ("5.1.8", "501 5.1.8 Sender address rejected", "failed", REFUSED),
        ("5.2.2", "552 5.2.2 Mailbox full", "failed", REFUSED),
        ("4.4.7", "Message expired", "failed", DELAYED),
        ("4.2.2", "452 4.2.2 Over quota", "delayed", DELAYED),
        (None, "451 Try again later", None, DELAYED),
        (None, "something went wrong", None, REFUSED),  # unclear: a person reads it
    ],
)
def test_status_codes_and_words(status, diagnostic, action, kind):
    assert classify(status, diagnostic, action) == kind


# --------------------------------------------------------------------------- through the webhook


@pytest.fixture
def reminded(client, db, clock, settings):
    """A reminder went out by email; two weeks later the next one is queued, not yet sent."""
    seed(client, first="email")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    clock.advance(days=14)
    cycle(db, clock, settings)
    assert [m.status for m in messages(db)] == ["sent", QUEUED]
    return reminder


def returning(name: str, reminder, *, message_id: bool = True) -> bytes:
    """The fixture, returning the reminder this test really sent (its id, reply address, recipient)."""
    raw = (MESSAGES / name).read_bytes()
    raw = raw.replace(FIXTURE_ID.encode(), reminder.provider_id.encode() if message_id else b"<unknown@x.example>")
    raw = raw.replace(FIXTURE_REPLY_TO.encode(), f"collections+{reminder.reply_token}@example.com".encode())
    return raw.replace(FIXTURE_TO.encode(), reminder.recipient.encode()).replace(
        b"collections@acme.example", b"collections@example.com"
    )


def inbound_rows(db) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(InboundMessage)).scalar()


def customer(db) -> Contact:
    """The customer's own contact (its email, phone and address): where the marks go."""
    with db.session() as s:
        return s.execute(select(Contact)).scalar_one()


def test_a_gmail_bounce_of_a_reminder_marks_the_email_invalid(anonymous, db, reminded):
    r = mail_in(anonymous, returning("bounce_gmail_reminder.eml", reminded))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["action"], body["matched_by"], body["message_id"]) == ("contact_invalid", "message_id", reminded.id)
    assert body["cancelled"] == 1
    assert customer(db).invalid_channels == ["email"]
    [task] = tasks(db, kind="contact_invalid")
    assert task.id == body["task_id"] and "5.1.1" in task.detail
    sent, queued = messages(db)
    assert (sent.status, sent.delivery_status) == ("sent", "bounced") and "5.1.1" in sent.last_error
    assert queued.status == CANCELLED and "bounced" in queued.last_error
    assert inbound_rows(db) == 0  # never an "unreadable reply"

    again = mail_in(anonymous, returning("bounce_gmail_reminder.eml", reminded)).json()  # the provider retries
    assert again["action"] == "already_invalid" and len(tasks(db)) == 1


@pytest.mark.parametrize("name", PERMANENT[1:])
def test_every_format_through_the_webhook(anonymous, db, reminded, name):
    r = mail_in(anonymous, returning(name, reminded))
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "contact_invalid" and customer(db).invalid_channels == ["email"]
    assert len(tasks(db)) == 1 and inbound_rows(db) == 0


def test_without_our_message_id_the_reply_token_finds_the_reminder(anonymous, db, reminded):
    body = mail_in(anonymous, returning("bounce_exim.eml", reminded, message_id=False)).json()
    assert (body["matched_by"], body["message_id"], body["action"]) == ("reply_token", reminded.id, "contact_invalid")


def test_a_delay_changes_nothing(anonymous, db, reminded):
    body = mail_in(anonymous, returning("bounce_gmail_delayed.eml", reminded)).json()
    assert body["action"] == "delayed"
    assert customer(db).invalid_channels == [] and tasks(db) == [] and inbound_rows(db) == 0
    assert [m.status for m in messages(db)] == ["sent", QUEUED]


def test_a_spam_refusal_keeps_the_address_and_asks_a_person(anonymous, db, reminded):
    body = mail_in(anonymous, returning("bounce_spam_refused.eml", reminded)).json()
    assert body["action"] == "refused"
    assert customer(db).invalid_channels == [] and [m.status for m in messages(db)] == ["sent", QUEUED]
    [task] = tasks(db)
    assert task.kind == "review" and "5.7.1" in task.title and task.message_id == reminded.id
    mail_in(anonymous, returning("bounce_spam_refused.eml", reminded))
    assert len(tasks(db)) == 1


def test_a_bounce_of_nothing_we_sent_is_one_task(anonymous, db, reminded, clock):
    raw = (MESSAGES / "bounce_postfix.eml").read_bytes()  # returns a reminder to ap@globex.example we never sent
    for _ in range(2):
        body = mail_in(anonymous, raw).json()
        assert body["action"] == "unmatched"
    [task] = tasks(db)
    assert "matches no email we sent" in task.title and "ap@globex.example" in task.detail
    assert customer(db).invalid_channels == [] and inbound_rows(db) == 0


def test_a_bounce_of_an_address_the_customer_no_longer_has_is_left_to_a_person(client, anonymous, db, reminded):
    r = client.post(
        "/v1/customers/bulk",
        json={
            "customers": [
                {
                    "external_id": "C1",
                    "name": "Customer C1",
                    "email": "new@example.com",
                    "language": "fr",
                    "timezone": "Europe/Paris",
                    "country": "FR",
                    "kind": "business",
                    "phone": "+33612345678",
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    body = mail_in(anonymous, returning("bounce_qmail.eml", reminded)).json()
    assert body["action"] == "refused"
    assert customer(db).invalid_channels == [] and "no longer" in tasks(db)[0].detail


def test_a_notice_that_only_names_the_address_is_left_to_a_person(anonymous, db, reminded):
    """Anybody can send us a "bounce" naming a customer's address; only our own Message-ID or reply
    token, which nobody outside has seen, makes it act by itself."""
    raw = returning("bounce_qmail.eml", reminded, message_id=False).replace(
        f"collections+{reminded.reply_token}@example.com".encode(), b"collections@example.com"
    )
    body = mail_in(anonymous, raw).json()
    assert (body["matched_by"], body["action"]) == ("recipient", "refused")
    assert customer(db).invalid_channels == [] and [m.status for m in messages(db)] == ["sent", QUEUED]
    assert "does not quote our message" in tasks(db)[0].detail
