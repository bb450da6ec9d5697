"""Through the real webhook: an out-of-office reply holds the next email until after the day the
customer is back, and gets no answer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dunning.clock import FrozenClock
from dunning.policies import calendar
from tests.outbox.support import cycle, dispatch, messages
from tests.replies.support import day, mail_in, seed, the_case
from tests.replies.test_trust_and_opt_outs import reply


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))  # Monday 5 January 2026


def test_an_out_of_office_reply_holds_the_next_email_until_after_the_return_date(
    client, anonymous, db, clock, settings
):
    seed(client, first="email", due=date(2025, 12, 25))  # r2 would be due on 8 January
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    body = mail_in(
        anonymous,
        reply(
            "I am out of the office, back on 12 January. For urgent matters call reception.",
            answering=reminder,
            autoreply=True,
            subject="Automatic reply: your invoice",
        ),
    ).json()
    assert (body["intent"], body["action"], body["task_id"]) == ("out_of_office", "away_until", None)
    back = calendar.start_of_day(date(2026, 1, 13), "Europe/Paris")
    assert the_case(db).paused_until == back
    for _ in range(12):
        day(db, clock, settings)
    later = [m for m in messages(db) if m.id != reminder.id and m.status == "sent"]
    assert later and all(m.sent_at >= back for m in later), [(m.template, m.sent_at) for m in later]
    assert later[0].step_key == "r2"
