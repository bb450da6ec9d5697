"""Through the real webhooks: mail acts only when it answers a message of ours and no provider
failed it; opt-outs are honoured at once by any wording and any channel, confirmed once, and
nothing queued before them goes after."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import select

from dunning.contacts import OptOut
from dunning.contacts.models import ContactOptOut
from dunning.records.arrangements import Promise
from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import day, mail_in, seed, text_in, the_case

# What Gmail's and Outlook's servers write when they receive a mail (RFC 8601; Outlook leaves the
# authserv-id out and adds its own composite verdict).
GMAIL_PASS = (
    "mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=s1 header.b=Ab12Cd34;\r\n"
    "       spf=pass (google.com: domain of c1@example.com designates 203.0.113.7 as permitted sender)"
    " smtp.mailfrom=c1@example.com;\r\n       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com"
)
GMAIL_DMARC_FAIL = (
    "mx.google.com;\r\n       spf=softfail (google.com: domain of transitioning c1@example.com does"
    " not designate 198.51.100.9 as permitted sender) smtp.mailfrom=c1@example.com;\r\n"
    "       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=example.com"
)
OUTLOOK_SPF_FAIL = (
    "spf=fail (sender IP is 198.51.100.9) smtp.mailfrom=example.com; dkim=none (message not signed)"
    " header.d=none;dmarc=fail action=none header.from=example.com;compauth=fail reason=001"
)


def reply(
    text: str,
    *,
    answering=None,
    auth: str | None = None,
    message_id: str = "<r1@customer.example>",
    subject: str = "Re: your invoice",
    autoreply: bool = False,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Customer C1 <c1@example.com>"
    msg["To"] = "collections@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    if answering is not None:
        msg["In-Reply-To"] = answering.provider_id
        msg["References"] = answering.provider_id
    if autoreply:
        msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(text)
    # Prepended as the receiving server writes it, folded over several lines.
    received = f"Authentication-Results: {auth}\n".replace("\r\n", "\n").encode() if auth else b""
    return received + msg.as_bytes()


def first_email(client, db, clock, settings):
    seed(client, first="email")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    assert reminder.status == "sent" and reminder.channel == "email"
    return reminder


def opted_out(db) -> set[str]:
    """The channels silenced, for the whole customer or for the contact who wrote."""
    with db.session() as s:
        return set(s.execute(select(OptOut.channel)).scalars()) | set(
            s.execute(select(ContactOptOut.channel)).scalars()
        )


# --------------------------------------------------------------------------- trust


@pytest.mark.parametrize("auth, why", [(GMAIL_DMARC_FAIL, "dmarc=fail"), (OUTLOOK_SPF_FAIL, "spf=fail")])
def test_a_failed_provider_verdict_makes_a_reply_a_task(client, anonymous, db, clock, settings, auth, why):
    reminder = first_email(client, db, clock, settings)
    body = mail_in(anonymous, reply("Je paierai vendredi.", answering=reminder, auth=auth)).json()
    assert (body["matched_by"], body["trusted"], body["action"]) == ("in_reply_to", False, "task")
    [task] = tasks(db, kind="reply")
    assert why in task.detail and "Je paierai vendredi." in task.detail
    with db.session() as s:
        assert s.execute(select(Promise)).first() is None
    assert the_case(db).state == "active"


def test_a_reply_to_our_message_that_passed_acts(client, anonymous, db, clock, settings):
    reminder = first_email(client, db, clock, settings)
    body = mail_in(anonymous, reply("Je paierai vendredi.", answering=reminder, auth=GMAIL_PASS)).json()
    assert (body["trusted"], body["action"]) == (True, "promise_recorded")
    assert the_case(db).state == "paused"


def test_a_forged_from_cannot_promise_but_its_opt_out_holds_and_is_seen(client, anonymous, db, clock, settings):
    first_email(client, db, clock, settings)
    # Only the From: line says who this is: no token, no In-Reply-To.
    promise = mail_in(anonymous, reply("I will pay on Friday")).json()
    assert (promise["matched_by"], promise["trusted"], promise["action"]) == ("sender", False, "task")
    assert the_case(db).state == "active"
    stop = mail_in(anonymous, reply("Please unsubscribe me", message_id="<r2@x>")).json()
    assert stop["action"] == "opted_out" and opted_out(db) == {"email"}
    task = next(t for t in tasks(db, kind="reply") if t.id == stop["task_id"])
    assert "cannot trust" in task.title


# --------------------------------------------------------------------------- opt-outs


def test_stop_svp_by_sms_opts_out_at_once_with_exactly_one_confirmation(client, anonymous, db, clock, settings, twilio):
    seed(client, first="sms")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    assert len(twilio.messages) == 1
    first = text_in(anonymous, "stop svp")
    assert "<Message>" in first.text  # the one confirmation text
    assert opted_out(db) == {"sms"}
    assert tasks(db, kind="reply") == []  # a clear opt-out needs no person
    second = text_in(anonymous, "STOP merci")
    assert "<Message>" not in second.text  # the confirmation is sent once
    for _ in range(20):
        day(db, clock, settings)
    assert len(twilio.messages) == 1  # nothing more by SMS
    assert all(m.channel != "sms" for m in messages(db) if m.status == "sent" and m.id != messages(db)[0].id)


def test_an_sms_that_says_stop_and_more_stops_sms_and_proposes_the_rest(client, anonymous, db, clock, settings, twilio):
    seed(client, first="sms")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    r = text_in(anonymous, "Stop hassling me!! You'll get your money Friday")
    assert "<Message>" in r.text  # the one confirmation
    assert opted_out(db) == {"sms"}
    [task] = tasks(db, kind="reply")
    assert "promise_to_pay" in task.detail and "2026-03-06" in task.detail
    with db.session() as s:
        assert s.execute(select(Promise)).first() is None


def test_an_email_asking_to_stop_texts_opts_out_sms(client, anonymous, db, clock, settings, twilio):
    reminder = first_email(client, db, clock, settings)
    body = mail_in(anonymous, reply("Please stop texting me, I prefer email.", answering=reminder)).json()
    assert body["action"] == "opted_out" and opted_out(db) == {"sms"}


def test_a_queued_confirmation_is_not_sent_after_an_email_unsubscribe(client, anonymous, db, clock, settings):
    reminder = first_email(client, db, clock, settings)
    promised = mail_in(anonymous, reply("Je paierai vendredi.", answering=reminder)).json()
    assert promised["action"] == "promise_recorded"
    [confirmation] = messages(db, template="promise_confirmation")
    assert confirmation.status == "queued"
    stop = mail_in(anonymous, reply("unsubscribe", answering=reminder, message_id="<r2@x>")).json()
    assert stop["action"] == "opted_out"
    dispatch(db, clock, settings)
    [confirmation] = messages(db, template="promise_confirmation")
    [goodbye] = messages(db, template="opt_out_confirmation")
    assert confirmation.status == "cancelled" and "opted out" in (confirmation.last_error or "")
    assert goodbye.status == "sent"
