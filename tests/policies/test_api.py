from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from dunning.cases.models import Case
from dunning.outbox.models import Message
from tests.builders import customer, invoice

BROKEN = """name: default
bands: [{name: low}]
paths:
  low:
    steps:
      - {key: r1, after_days: three, kind: reminder, channels: [email]}
"""


def test_the_default_policy_is_there_from_the_first_start(client):
    with client:  # runs the start-up
        policies = client.get("/v1/policies").json()
    assert [p["name"] for p in policies] == ["default"] and policies[0]["version"] == 1
    assert "bands:" in client.get("/v1/policies/default").json()["document"]


def test_saving_a_policy_makes_a_new_version_and_keeps_the_old(client):
    with client:
        doc = client.get("/v1/policies/default").json()["document"]
        r = client.put(
            "/v1/policies/default",
            content=doc.replace("below: 0.2", "below: 0.25"),
            headers={"Content-Type": "application/yaml"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2
        assert "0.2\n" in client.get("/v1/policies/default", params={"version": 1}).json()["document"]
        same = client.put("/v1/policies/default", json={"document": doc.replace("below: 0.2", "below: 0.25")})
        assert same.json()["version"] == 2  # the same document again is not a new version


def test_a_bad_policy_is_refused_with_its_line(client):
    r = client.put("/v1/policies/default", content=BROKEN, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 422
    [error] = r.json()["errors"]
    assert error["line"] == 6 and error["field"].endswith("after_days")
    assert client.put("/v1/policies/other", content=BROKEN.replace("three", "3")).status_code == 422  # name mismatch


def test_preview_lists_what_would_be_sent_and_writes_nothing(client, db):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("I1", due=date(2026, 2, 25), total="500")]})
    r = client.post("/v1/policies/default/preview", json={"days": 30})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert rows and rows[0]["customer_external_id"] == "C1" and rows[0]["invoices"] == ["N-I1"]
    assert [row["send_at"] for row in rows] == sorted(row["send_at"] for row in rows)
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar() == 0
        assert s.execute(select(func.count()).select_from(Case)).scalar() == 0
