"""Disputes through the API: the invoice leaves the notices while open, the rest of the case goes on,
the team has a task with a deadline; resolving brings the invoice back."""

from __future__ import annotations

from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import day, seed, the_case


def dispute(client, invoice="I2", **over):
    return client.post(
        f"/v1/invoices/{invoice}/dispute", json={"reason_code": "not_received", "text": "Never delivered", **over}
    )


def test_a_disputed_invoice_leaves_the_notices_and_the_team_has_until_the_deadline(client, db, clock, settings):
    seed(client, first="email", invoices=2)
    r = dispute(client)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "open" and body["respond_by"] == "2026-03-16" and body["invoice_external_id"] == "I2"
    [task] = tasks(db, kind="dispute")
    assert task.id == body["task_id"] and "N-I2" in task.title and "Never delivered" in task.detail
    assert task.due_at is not None and task.due_at.date().isoformat() == "2026-03-15"  # midnight in Paris

    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    assert reminder.context["invoices"] == ["N-I1"]  # the rest of the case goes on
    assert the_case(db).state == "active"

    r = client.post("/v1/invoices/I2/dispute/resolve", json={"outcome": "rejected", "note": "proof of delivery"})
    assert r.status_code == 200 and r.json()["outcome"] == "rejected" and r.json()["resolved_by"] == "api_key:admin"
    [task] = tasks(db, kind="dispute")
    assert task.status == "done"
    for _ in range(14):
        day(db, clock, settings)
    later = [m for m in messages(db) if m.step_key == "r2"]
    assert later and later[0].context["invoices"] == ["N-I1", "N-I2"]  # back in the notices


def test_one_open_dispute_per_invoice_and_only_an_open_one_resolves(client, db, clock, settings):
    seed(client, invoices=2)
    assert dispute(client).status_code == 201
    r = dispute(client)
    assert r.status_code == 409 and "already has an open dispute" in r.json()["message"]
    assert client.post("/v1/invoices/I1/dispute/resolve", json={"outcome": "upheld"}).status_code == 404
    assert client.post("/v1/invoices/I2/dispute/resolve", json={"outcome": "maybe"}).status_code == 422
    assert client.post("/v1/invoices/NOPE/dispute", json={"reason_code": "x"}).status_code == 404
    assert dispute(client, reason_code="Not A Code").status_code == 422
    assert [d["status"] for d in client.get("/v1/customers/C1/disputes").json()] == ["open"]


def test_everything_disputed_means_nothing_is_asked_for(client, db, clock, settings):
    seed(client, first="email")
    dispute(client, invoice="I1")
    cycle(db, clock, settings)
    assert messages(db) == []
