"""End to end by email: a reminder goes out, the customer answers above the quoted reminder in a
real multipart message, the promise is confirmed by email, pauses the case, breaks, and the next
step is planned. The reply finds its case by In-Reply-To, or by the plus address alone."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage
from html import escape

import pytest
from sqlalchemy import select

from dunning.records.arrangements import Promise
from dunning.records.replies import InboundMessage
from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import day, mail_in, seed, the_case


def reply_to(sent, text: str, *, in_reply_to: bool = True, to: str = "collections@example.com") -> bytes:
    """A reply as a mail client writes it: new text on top, our reminder quoted below, text and HTML."""
    msg = EmailMessage()
    msg["From"] = "Jean Dupont <c1@example.com>"
    msg["To"] = to
    msg["Subject"] = f"RE: {sent.subject}"
    msg["Message-ID"] = "<reply-1@customer.example>"
    msg["Date"] = "Mon, 02 Mar 2026 10:30:00 +0100"
    if in_reply_to:
        msg["In-Reply-To"] = sent.provider_id
        msg["References"] = sent.provider_id
    quoted = "\n".join(f"> {line}" for line in sent.body_text.splitlines())
    msg.set_content(
        f"{text}\n\nCordialement,\nJean Dupont\n\n"
        f"Le lun. 2 mars 2026 à 10:00, Example Trading Ltd <collections@example.com> a écrit :\n{quoted}\n"
    )
    msg.add_alternative(
        f'<div dir="ltr">{escape(text)}<br><br>Cordialement,<br>Jean Dupont</div>'
        f'<div class="gmail_quote"><div class="gmail_attr">Le lun. 2 mars 2026 à 10:00, '
        f'Example Trading Ltd a écrit :</div><blockquote class="gmail_quote">'
        f"{escape(sent.body_text).replace(chr(10), '<br>')}</blockquote></div>",
        subtype="html",
    )
    return msg.as_bytes()


@pytest.mark.parametrize("by", ["in_reply_to", "reply_token"])
def test_a_promise_by_email_pauses_until_friday_plus_grace_then_breaks(client, anonymous, db, clock, settings, by):
    seed(client, first="email")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    assert reminder.status == "sent" and reminder.provider_id.startswith("<dunning.")

    if by == "in_reply_to":
        raw = reply_to(reminder, "Je paierai vendredi.")
    else:  # only the plus address of our Reply-To says which message this answers
        raw = reply_to(
            reminder, "Je paierai vendredi.", in_reply_to=False, to=f"collections+{reminder.reply_token}@example.com"
        )
    r = mail_in(anonymous, raw)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["matched_by"] == by and body["intent"] == "promise_to_pay" and body["action"] == "promise_recorded"
    with db.session() as s:
        promise = s.execute(select(Promise)).scalar_one()
        inbound = s.execute(select(InboundMessage)).scalar_one()
    assert promise.promised_on == date(2026, 3, 6) and promise.source == "email" and promise.amount_minor == 40_000
    assert inbound.reply_text == "Je paierai vendredi." and "a écrit" in inbound.raw_text  # the quote was not read
    assert inbound.case_id == the_case(db).id and inbound.message_id == reminder.id

    dispatch(db, clock, settings)  # the confirmation is a transactional email: it goes although the case is paused
    [confirmation] = messages(db, template="promise_confirmation")
    assert confirmation.id == body["answer_message_id"] and confirmation.status == "sent"
    assert "6 mars 2026" in confirmation.body_text and "400,00" in confirmation.body_text
    assert the_case(db).state == "paused"

    for _ in range(6):
        day(db, clock, settings)
    assert {m.id for m in messages(db)} == {reminder.id, confirmation.id}

    day(db, clock, settings)
    with db.session() as s:
        assert s.get(Promise, promise.id).status == "broken"
    assert tasks(db, kind="broken_promise")
    nxt = [m for m in messages(db) if m.id not in (reminder.id, confirmation.id)]
    assert [(m.step_key, m.channel, m.status) for m in nxt] == [("r2", "email", "sent")]


def test_the_same_mail_posted_twice_acts_once(client, anonymous, db, clock, settings):
    seed(client, first="email")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    raw = reply_to(reminder, "Je paierai vendredi.")
    first, second = mail_in(anonymous, raw).json(), mail_in(anonymous, raw).json()
    assert second["duplicate"] is True and second["id"] == first["id"]
    with db.session() as s:
        assert len(s.execute(select(Promise)).all()) == 1
        assert len(s.execute(select(InboundMessage)).all()) == 1
