"""Events reach a receiver on loopback, signed as Standard Webhooks says; failures are retried with
backoff on the injected clock; an endpoint failing for days is disabled with one task."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dunning.clock import FrozenClock
from tests.builders import customer, invoice, payment
from tests.fakes.webhooks import Receiver
from tests.outbox.support import cycle, dispatch, tasks, use_policy
from tests.webhooks.support import add_endpoint, deliver, deliveries, endpoint_row

README = Path(__file__).resolve().parents[2] / "README.md"
DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "dunning" / "policies" / "default.yaml"


def readme_verify():
    """The standard-library verification snippet of README "Verifying a webhook", as written there."""
    section = README.read_text().split("### Verifying a webhook", 1)[1]
    code = [block for block in re.findall(r"```python\n(.*?)```", section, re.S) if "def verify" in block][0]
    scope: dict = {}
    exec(code, scope)
    return scope["verify"]


@pytest.fixture
def clock() -> FrozenClock:
    # Today's time, so that the receiver can check webhook-timestamp with the library's five minutes.
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


def around_the_clock() -> str:
    """The default policy with a contact window of the whole day, every day: the clock here is the
    wall clock (for the receiver's five minutes), and the reminder must go whatever time it is."""
    document = DEFAULT_POLICY.read_text()
    document = document.replace('start: "08:00"', 'start: "00:00"').replace('end: "20:00"', 'end: "23:59"')
    return document.replace("business_days_only: true", "business_days_only: false")


def test_a_receiver_gets_the_case_from_opening_to_closing_signed_and_verified(client, db, clock, settings):
    use_policy(db, clock, around_the_clock())
    with Receiver() as receiver:
        created = add_endpoint(
            client,
            receiver.url,
            ["case.opened", "case.step_planned", "message.sent", "payment.received", "case.closed"],
            description="CRM",
        )
        receiver.secret = created["secret"]
        assert created["secret"].startswith("whsec_")
        assert "secret" not in client.get(f"/v1/webhook-endpoints/{created['id']}").json()

        client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
        client.post(
            "/v1/invoices/bulk", json={"invoices": [invoice("I1", due=clock.now().date() - timedelta(days=20))]}
        )
        cycle(db, clock, settings)
        dispatch(db, clock, settings)
        client.post(
            "/v1/payments/bulk",
            json={"payments": [payment("P1", amount="100.00", received_on=clock.now().date().isoformat())]},
        )
        cycle(db, clock, settings)
        counts = deliver(db, clock, settings)

    assert not receiver.refused
    assert counts["delivered"] == 5 and counts["failed"] == 0
    assert sorted(receiver.ids()) == sorted(f"evt_{e['id']}" for e in receiver.events())
    events = sorted(receiver.events(), key=lambda e: e["id"])  # sent side by side: they may arrive in any order
    assert [e["type"] for e in events] == [
        "case.opened",
        "case.step_planned",
        "message.sent",
        "payment.received",
        "case.closed",
    ]
    closed = events[-1]
    assert closed["data"]["customer"] == "C1" and closed["data"]["currency"] == "EUR"
    assert closed["data"]["case_id"] == events[0]["data"]["case_id"]
    assert events[3]["data"] == {
        "case_id": None,
        "payment": "P1",
        "customer": "C1",
        "invoice": None,
        "currency": "EUR",
        "amount": "100.00",
        "received_on": clock.now().date().isoformat(),
        "source": "push",
    }
    detail = client.get(f"/v1/events/{closed['id']}").json()
    assert detail["deliveries"][0]["status"] == "delivered" and detail["deliveries"][0]["attempts"] == 1
    # the feed and the webhook carry the same event
    assert {k: detail[k] for k in ("id", "type", "timestamp", "data")} == closed

    verify = readme_verify()  # what the README tells receivers without the library to run
    request = receiver.accepted[0]
    assert verify(created["secret"], request.headers, request.body)
    assert not verify(created["secret"], request.headers, request.body.replace(b'"C1"', b'"C2"'))
    assert not verify("whsec_" + "A" * 44, request.headers, request.body)
    stamp = int(request.headers["webhook-timestamp"])
    assert not verify(created["secret"], request.headers, request.body, now=stamp + 301)
    assert not verify(created["secret"], {**request.headers, "webhook-id": "evt_0"}, request.body)


def test_a_receiver_answering_500_gets_retries_with_backoff_and_the_same_webhook_id(client, db, clock, settings):
    with Receiver(tolerance=False) as receiver:  # the clock moves on: the signature is checked, not its age
        receiver.secret = add_endpoint(client, receiver.url, ["payment.received"])["secret"]
        receiver.answers.extend([500, 500, 503])
        client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
        client.post("/v1/payments/bulk", json={"payments": [payment("P1")]})

        waits = []
        for _ in range(3):
            deliver(db, clock, settings)
            [row] = deliveries(db)
            assert row.status == "pending" and row.last_status in (500, 503)
            assert row.last_error.startswith(f"answered {row.last_status}: receiver trouble")
            waits.append(row.next_attempt_at - clock.now())
            clock.advance(waits[-1] - timedelta(seconds=1))
            assert deliver(db, clock, settings)["delivered"] + deliver(db, clock, settings)["failed"] == 0
            clock.advance(seconds=1)
        assert deliver(db, clock, settings)["delivered"] == 1

    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    [row] = deliveries(db)
    assert row.status == "delivered" and row.attempts == 4 and row.last_error is None
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    stamps = [r.headers["webhook-timestamp"] for r in receiver.requests]
    assert len(receiver.requests) == 4 and len(ids) == 1 and len(set(stamps)) == 4 and not receiver.refused


def test_an_endpoint_failing_for_days_is_disabled_with_one_task_and_catches_up_when_enabled(
    client, db, clock, settings
):
    settings = settings.model_copy(update={"webhook_disable_after_days": 3})
    with Receiver(tolerance=False) as receiver:
        endpoint = add_endpoint(client, receiver.url, ["payment.received"])
        receiver.secret = endpoint["secret"]
        receiver.answers.extend([500] * 1000)
        client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
        for day in range(5):
            client.post("/v1/payments/bulk", json={"payments": [payment(f"P{day}")]})
            for _ in range(4):  # a round every six hours (the longest backoff)
                deliver(db, clock, settings)
                clock.advance(hours=6)
        row = endpoint_row(db, endpoint["id"])
        assert row.disabled_at is not None and "answered 500" in row.disabled_reason
        assert row.disabled_at - row.failing_since >= timedelta(days=3)
        [task] = tasks(db, kind="webhook")
        assert task.status == "open" and str(endpoint["id"]) in task.title
        tried = len(receiver.requests)
        clock.advance(days=2)
        deliver(db, clock, settings)
        assert len(receiver.requests) == tried  # disabled: nothing is sent
        assert len(tasks(db, kind="webhook")) == 1
        # the first payments ran out of attempts during the outage; enabling sends them too
        assert {d.status for d in deliveries(db)} == {"failed", "pending"}

        receiver.answers.clear()
        r = client.post(f"/v1/webhook-endpoints/{endpoint['id']}/enable")
        assert r.status_code == 200 and r.json()["disabled_at"] is None
        deliver(db, clock, settings)
    assert sorted(e["data"]["payment"] for e in receiver.events()) == [f"P{d}" for d in range(5)]
    assert endpoint_row(db, endpoint["id"]).failing_since is None
