"""SMS planned by the cycle and sent through the real twilio library to a local fake of its API."""

from __future__ import annotations

from datetime import date

import pytest

from dunning.channels.gsm import count_segments
from dunning.contacts import opt_out
from tests.builders import customer, invoice
from tests.fakes.twilio_api import FakeTwilio
from tests.outbox.support import contact_row, cycle, dispatch, messages, outbox_settings, seed, tasks, use_policy

SID, TOKEN = "AC" + "7" * 32, "fake-token"
# Two text messages four days apart, nothing else, any day of the week.
TWO_TEXTS = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: t1, after_days: 1, kind: reminder, channels: [sms]}
      - {key: t2, after_days: 5, kind: reminder, channels: [sms]}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""


@pytest.fixture
def twilio():
    with FakeTwilio(SID, TOKEN) as fake:
        yield fake


@pytest.fixture
def sms_settings(settings, twilio):
    return outbox_settings(
        settings,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from_number="+33700000000",
        twilio_api_base=twilio.url,
        http_timeout_seconds=5,
    )


def test_only_the_first_text_carries_the_opt_out_line(db, clock, sms_settings, twilio):
    use_policy(db, clock, TWO_TEXTS)
    seed(db, clock, [customer("C1")], [invoice("I1", due=date(2026, 2, 20), total="80.00")])
    assert [o.step_key for o in cycle(db, clock, sms_settings).planned] == ["t1"]
    assert dispatch(db, clock, sms_settings)["sent"] == 1

    clock.advance(days=4)
    assert [o.step_key for o in cycle(db, clock, sms_settings).planned] == ["t2"]
    assert dispatch(db, clock, sms_settings)["sent"] == 1

    first, second = twilio.messages
    assert first["To"] == second["To"] == "+33612345678" and first["From"] == "+33700000000"
    assert first["Body"].endswith("\nRépondez STOP pour vous désabonner")
    assert "STOP" not in second["Body"]
    rows = messages(db)
    assert [r.body_text for r in rows] == [first["Body"], second["Body"]]
    assert all(r.status == "sent" and r.provider_id.startswith("SM") for r in rows)
    assert [r.segments for r in rows] == [
        count_segments(first["Body"]).segments,
        count_segments(second["Body"]).segments,
    ]


def test_a_customer_who_said_stop_is_never_texted(db, clock, sms_settings, twilio):
    use_policy(db, clock, TWO_TEXTS)
    ids = seed(
        db,
        clock,
        [customer("C1"), customer("C2", phone="+33698765432")],
        [invoice("I1", "C1", due=date(2026, 2, 20)), invoice("I2", "C2", due=date(2026, 2, 20))],
    )
    assert len(cycle(db, clock, sms_settings).planned) == 2
    with db.session() as session:  # STOP arrives between planning and sending
        opt_out(session, clock, ids["C2"], "sms", "sms_stop")

    counts = dispatch(db, clock, sms_settings)

    assert (counts["sent"], counts["cancelled"]) == (1, 1)
    assert [m["To"] for m in twilio.messages] == ["+33612345678"]
    [stopped] = messages(db, customer_id=ids["C2"])
    assert stopped.status == "cancelled" and "opted out of sms" in stopped.last_error
    assert stopped.body_text is None and stopped.attempts == 0


def test_a_number_twilio_calls_invalid_fails_and_is_marked(db, clock, sms_settings, twilio):
    use_policy(db, clock, TWO_TEXTS)
    ids = seed(db, clock, [customer("C1")], [invoice("I1", due=date(2026, 2, 20))])
    cycle(db, clock, sms_settings)
    twilio.fail_next(400, 21614, "'To' number is not a valid mobile number")
    assert dispatch(db, clock, sms_settings)["failed"] == 1
    [row] = messages(db)
    assert row.status == "failed" and row.last_error.startswith("21614")
    assert contact_row(db, ids["C1"]).invalid_channels == ["sms"]
    [task] = tasks(db, kind="contact_invalid")
    assert task.message_id == row.id


def test_a_busy_api_is_retried(db, clock, sms_settings, twilio):
    use_policy(db, clock, TWO_TEXTS)
    seed(db, clock, [customer("C1")], [invoice("I1", due=date(2026, 2, 20))])
    cycle(db, clock, sms_settings)
    twilio.fail_next(429, 20429, "Too Many Requests")
    assert dispatch(db, clock, sms_settings)["queued"] == 1
    clock.advance(minutes=1)
    assert dispatch(db, clock, sms_settings)["sent"] == 1
    [row] = messages(db)
    assert (row.status, row.attempts) == ("sent", 2) and len(twilio.messages) == 1
