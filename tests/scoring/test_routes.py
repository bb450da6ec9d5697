from __future__ import annotations

from sqlalchemy import select

from dunning.ledger.models import Customer
from dunning.policies import service as policy_service
from dunning.scoring.models import Score
from tests.builders import customer, invoice
from tests.scoring.ledger import as_of, push, world


def band(p: float) -> str:
    return policy_service.validate(policy_service.DEFAULT, policy_service.default_document()).band_for(p).name


def test_a_customer_never_scored_gets_the_baseline_computed_now_and_is_told_so(client):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("I1")]})
    r = client.get("/v1/customers/C1/score")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stored"] is False and body["scored_at"] is None and body["model_version"] == "baseline"
    assert body["reasons"][0] == "never scored: this is the baseline, computed now"
    assert body["probability"] == 0.2 and body["band"] == band(0.2)  # no history at all: the assumed prior


def test_a_stored_score_comes_back_with_its_band_in_the_customers_policy(client, db, clock):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    with db.session() as s:
        cid = s.execute(select(Customer.id)).scalar_one()
        s.add(
            Score(
                customer_id=cid,
                currency="EUR",
                probability=0.62,
                model_version="xgb-x",
                reasons=["late lately"],
                open_invoices=2,
                scored_at=clock.now(),
            )
        )
    body = client.get("/v1/customers/C1/score").json()
    assert body == {
        "customer_external_id": "C1",
        "probability": 0.62,
        "band": band(0.62),
        "model_version": "xgb-x",
        "reasons": ["late lately"],
        "currency": "EUR",
        "scored_at": clock.now().isoformat().replace("+00:00", "Z"),
        "stored": True,
    }


def test_unknown_customer_and_unknown_version_are_404(client):
    assert client.get("/v1/customers/nobody/score").status_code == 404
    r = client.post("/v1/models/nope/promote")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_train_list_and_promote_through_the_api(client, db, clock):
    r = client.post("/v1/models/train")
    assert r.status_code == 200 and r.json()["outcome"] == "not_enough_data" and r.json()["version"] is None
    assert client.get("/v1/models").json() == []

    push(db, clock, as_of(world(), clock.now().date()))
    trained = client.post("/v1/models/train").json()
    assert trained["outcome"] == "promoted" and trained["promoted"] is True
    assert trained["comparison"]["against"] == "baseline"
    models = client.get("/v1/models").json()
    assert [(m["version"], m["status"]) for m in models] == [(trained["version"], "champion")]
    assert set(models[0]["metrics"]["rehearsal"]) == {"model", "baseline", "holdout_from"}
    assert "artifact_path" not in models[0]  # a server path is nobody's business over the API

    again = client.post(f"/v1/models/{trained['version']}/promote")
    assert again.status_code == 200 and again.json()["status"] == "champion"
