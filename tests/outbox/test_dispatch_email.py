"""Reminders planned by the cycle, sent by the Dispatcher over SMTP to a real server on loopback."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dunning.outbox.service import backoff
from tests.builders import customer, invoice
from tests.fakes.smtp import RecordingHandler, smtp_server
from tests.outbox.support import contact_row, cycle, dispatch, messages, outbox_settings, seed, smtp, tasks


@pytest.fixture
def server():
    with smtp_server() as running:
        yield running


@pytest.fixture
def mail_settings(settings, server):
    return outbox_settings(settings, **smtp(server.port))


def plain(text: str) -> str:
    return " ".join(text.split())  # babel's no-break spaces become plain ones


def overdue(customer_id: str, count: int, first_due: date = date(2026, 2, 18)) -> list[dict]:
    return [
        invoice(f"{customer_id}-I{i}", customer_id, due=first_due + timedelta(days=i), total=f"{100 + i}.00")
        for i in range(count)
    ]


def test_a_consolidated_reminder_arrives_as_stored(db, clock, mail_settings, server):
    seed(db, clock, [customer("C1")], overdue("C1", 3))
    report = cycle(db, clock, mail_settings)
    assert [o.step_key for o in report.planned] == ["r1"], report.outcomes

    counts = dispatch(db, clock, mail_settings)

    assert counts["sent"] == 1
    [row] = messages(db)
    [got] = server.handler.received
    assert got.rcpt_tos == ["c1@example.com"]
    mail = got.message()
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for number in ("N-C1-I0", "N-C1-I1", "N-C1-I2"):
        assert number in text and number in html
    assert "303,00" in text  # 100 + 101 + 102 euros, French formatting for a French customer

    assert row.status == "sent" and row.sent_at == clock.now() and row.attempts == 1
    assert row.provider_id == mail["Message-ID"] == f"<dunning.{row.id}.{row.reply_token}@replies.example.com>"
    assert mail["X-Dunning-Message-Id"] == str(row.id)
    assert row.recipient == "c1@example.com"
    assert row.subject == mail["Subject"] == "Rappel : 3 factures sont arrivées à échéance (303,00 €)"
    assert row.body_text == text.replace("\r\n", "\n") and "N-C1-I2" in row.body_html
    assert mail["Reply-To"] == f"collections+{row.reply_token}@replies.example.com"
    unsubscribe = " ".join(mail["List-Unsubscribe"].split())
    assert unsubscribe.startswith(
        f"<mailto:collections+{row.reply_token}@replies.example.com?subject=unsubscribe>, "
        "<https://dunning.example.com/unsubscribe/"
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert row.context["invoices"] == ["N-C1-I0", "N-C1-I1", "N-C1-I2"]


def test_refusals_fail_or_retry_and_every_message_shares_one_connection(db, clock, settings):
    handler = RecordingHandler()
    handler.rcpt_replies = {
        "gone@example.com": "550 5.1.1 No such user",
        "busy@example.com": "451 4.7.1 Greylisted, try again later",
    }
    people = [
        customer("GONE", email="gone@example.com"),
        customer("BUSY", email="busy@example.com"),
        *(customer(f"OK{i}") for i in range(4)),
    ]
    ids = seed(db, clock, people, [i for p in people for i in overdue(p["external_id"], 2)])
    cycle(db, clock, settings)
    with smtp_server(handler=handler) as server:
        mail_settings = outbox_settings(settings, **smtp(server.port))
        counts = dispatch(db, clock, mail_settings)
        assert (counts["sent"], counts["failed"], counts["queued"]) == (4, 1, 1)
        assert handler.connections == 1 and len(handler.received) == 4
        assert sorted(r.rcpt_tos[0] for r in handler.received) == [f"ok{i}@example.com" for i in range(4)]

        by_customer = {m.customer_id: m for m in messages(db)}
        gone, busy = by_customer[ids["GONE"]], by_customer[ids["BUSY"]]
        assert gone.status == "failed" and gone.last_error.startswith("550")
        assert contact_row(db, ids["GONE"]).invalid_channels == ["email"]
        [task] = tasks(db, kind="contact_invalid")
        assert task.customer_id == ids["GONE"] and task.message_id == gone.id

        assert busy.status == "queued" and busy.attempts == 1
        assert busy.send_after == clock.now() + backoff(1) == clock.now() + timedelta(minutes=1)
        assert contact_row(db, ids["BUSY"]).invalid_channels == []

        # Not due before its backoff; then the greylisting server takes it.
        assert dispatch(db, clock, mail_settings)["sent"] == 0
        handler.rcpt_replies.pop("busy@example.com")
        clock.advance(minutes=1)
        assert dispatch(db, clock, mail_settings)["sent"] == 1
    busy = messages(db, id=busy.id)[0]
    assert (busy.status, busy.attempts) == ("sent", 2)
    assert handler.received[-1].rcpt_tos == ["busy@example.com"]


def test_a_retry_carries_the_same_message_id(db, clock, settings):
    handler = RecordingHandler()
    handler.data_replies.append("452 4.3.1 Insufficient system storage")
    seed(db, clock, [customer("C1")], overdue("C1", 1))
    cycle(db, clock, settings)
    with smtp_server(handler=handler) as server:
        mail_settings = outbox_settings(settings, **smtp(server.port))
        assert dispatch(db, clock, mail_settings)["queued"] == 1
        first = messages(db)[0]
        clock.advance(minutes=1)
        assert dispatch(db, clock, mail_settings)["sent"] == 1
    [row] = messages(db)
    assert handler.received[0].message()["Message-ID"] == row.provider_id
    assert row.provider_id == f"<dunning.{row.id}.{first.reply_token}@replies.example.com>"


def test_the_pre_due_nudge_goes_before_the_due_date(db, clock, mail_settings, server):
    seed(db, clock, [customer("C1", language="en")], [invoice("I1", due=date(2026, 3, 5), total="250.00")])
    assert [o.step_key for o in cycle(db, clock, mail_settings).planned] == ["nudge"]
    assert dispatch(db, clock, mail_settings)["sent"] == 1
    [got] = server.handler.received
    mail = got.message()
    # English, written as in the customer's country (France): "250,00 €"
    assert plain(mail["Subject"]) == "Heads-up: invoice N-I1 is due on 5 March 2026 (250,00 €)"
    text = mail.get_body(("plain",)).get_content()
    assert "your invoice N-I1 for 250,00 € is due on 5 March 2026" in plain(text)
    assert "days late" not in text and "overdue" not in text
