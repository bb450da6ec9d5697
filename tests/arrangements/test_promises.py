"""Promises through the API: recording, validation, kept by payments, broken without."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from dunning.arrangements.jobs import run_once
from dunning.audit import AuditEvent
from tests.builders import payment
from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import day, seed, the_case

URL = "/v1/customers/C1/promises"


def promise(client, amount="400.00", on="2026-03-06", **over):
    return client.post(URL, json={"amount": amount, "currency": "EUR", "date": on, **over})


def test_a_promise_pauses_the_case_until_its_date_plus_grace_and_is_listed(client, db, clock, settings):
    seed(client, first="email")
    cycle(db, clock, settings)
    r = promise(client)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "open" and body["grace_until"] == "2026-03-08" and body["amount"] == "400.00"
    assert body["pauses_case"] is True and body["source"] == "api"
    case = the_case(db)
    assert case.state == "paused" and case.pause_reason == "promise"
    assert case.paused_until == datetime(2026, 3, 8, 23, 0, tzinfo=UTC)
    assert [p["id"] for p in client.get(URL).json()] == [body["id"]]
    with db.session() as s:
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "promise.recorded")).scalar_one()
    assert event.actor == "api_key:admin" and event.data["promised_on"] == "2026-03-06"


def test_bad_promises_are_refused_with_a_clear_message(client, db, clock, settings):
    seed(client)
    assert promise(client, on="2026-03-01").status_code == 422
    assert "in the past" in promise(client, on="2026-03-01").json()["message"]
    r = promise(client, amount="12.345")
    assert r.status_code == 422 and "EUR has 2 decimal places" in r.json()["message"]
    assert promise(client, amount="0").status_code == 422
    assert client.post(URL, json={"amount": "1", "currency": "XYZ", "date": "2026-03-06"}).status_code == 422
    assert (
        client.post(
            "/v1/customers/NOPE/promises", json={"amount": "1", "currency": "EUR", "date": "2026-03-06"}
        ).status_code
        == 404
    )
    assert client.get(URL).json() == []


def test_payments_reaching_the_amount_keep_the_promise_and_reminders_wait_for_its_end(client, db, clock, settings):
    seed(client, first="email", total="1000.00")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    promise(client, amount="300.00")
    client.post(
        "/v1/payments/bulk",
        json={
            "payments": [
                payment("OLD", amount="50.00", received_on="2026-02-27"),  # before the promise: does not count
                payment("P1", amount="200.00", received_on="2026-03-04"),
                payment("P2", amount="100.00", received_on="2026-03-05"),
            ]
        },
    )
    counts = run_once(db, clock, settings)
    assert counts["promise_kept"] == 1
    [kept] = client.get(URL).json()
    assert kept["status"] == "kept" and kept["paid"] == "300.00"
    # the customer was told "no reminders until then": the pause runs to its end, then the rest is chased
    for _ in range(6):
        day(db, clock, settings)
        assert the_case(db).state == "paused"
    day(db, clock, settings)
    assert the_case(db).state == "active"
    assert [m.step_key for m in messages(db) if m.step_key == "r2"] == ["r2"]
    assert not tasks(db, kind="broken_promise")


def test_a_partial_payment_does_not_keep_it(client, db, clock, settings):
    seed(client, first="email")
    cycle(db, clock, settings)
    promise(client)
    client.post("/v1/payments/bulk", json={"payments": [payment("P1", amount="399.99", received_on="2026-03-06")]})
    for _ in range(7):
        day(db, clock, settings)
    [broken] = client.get(URL).json()
    assert broken["status"] == "broken" and broken["paid"] == "399.99"


def test_a_new_promise_replaces_the_open_one(client, db, clock, settings):
    seed(client)
    cycle(db, clock, settings)
    promise(client)
    promise(client, on="2026-03-13", source="desk")
    rows = client.get(URL).json()
    assert [(p["promised_on"], p["status"]) for p in rows] == [("2026-03-13", "open"), ("2026-03-06", "cancelled")]
    assert the_case(db).paused_until == datetime(2026, 3, 15, 23, 0, tzinfo=UTC)


def test_a_confirmation_can_be_sent_and_repeats_date_and_amount(client, db, clock, settings):
    seed(client, first="email")
    cycle(db, clock, settings)
    promise(client, amount="150.00", notify="sms")
    dispatch(db, clock, settings)
    [sms] = messages(db, template="promise_confirmation")
    assert sms.channel == "sms" and sms.status == "sent"
    assert "150,00" in sms.body_text and "06/03/2026" in sms.body_text
