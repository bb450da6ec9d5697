"""Contacts pushed with their customer or alone: created, updated, left alone, refused row by row
and field by field, and read back with the customer."""

from __future__ import annotations

from tests.builders import customer

BILLING = {"external_id": "ap", "name": "Accounts Payable", "email": "ap@acme.example", "roles": ["billing"]}
LEGAL = {
    "external_id": "law",
    "name": "Maître Durand",
    "address": "3 quai Voltaire\n75007 Paris",
    "phone": "01 42 60 00 00",
    "roles": ["legal"],
    "language": "fr",
}


def contacts(client, external_id: str = "C1") -> dict[str, dict]:
    r = client.get(f"/v1/customers/{external_id}")
    assert r.status_code == 200, r.text
    return {c["external_id"]: c for c in r.json()["contacts"]}


def test_contacts_come_with_their_customer_and_are_upserted_by_their_own_id(client):
    r = client.post("/v1/customers/bulk", json={"customers": [customer("C1", contacts=[BILLING, LEGAL])]})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "contacts": {"created": 2, "updated": 0, "unchanged": 0},
    }
    found = contacts(client)
    # the customer's own fields are its primary contact; the national number reads in its country
    assert found["primary"]["email"] == "c1@example.com" and found["primary"]["roles"] == ["primary"]
    assert found["law"]["phone"] == "+33142600000" and found["law"]["address"] == "3 quai Voltaire\n75007 Paris"
    assert found["ap"]["roles"] == ["billing"] and found["ap"]["language"] is None

    moved = {**BILLING, "email": "payables@acme.example", "roles": ["billing", "buyer"]}
    r = client.post("/v1/customers/bulk", json={"customers": [customer("C1", contacts=[moved, LEGAL])]})
    assert r.json() == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "contacts": {"created": 0, "updated": 1, "unchanged": 1},
    }
    assert contacts(client)["ap"]["email"] == "payables@acme.example"

    # alone, by the customer's id; contacts left out of a push are kept
    r = client.post(
        "/v1/contacts/bulk", json={"contacts": [{**LEGAL, "customer_external_id": "C1", "name": "Cabinet Durand"}]}
    )
    assert r.status_code == 200 and r.json() == {"created": 0, "updated": 1, "unchanged": 0}
    r = client.post("/v1/customers/bulk", json={"customers": [customer("C1", email="new@acme.example")]})
    assert r.json() == {"created": 0, "updated": 1, "unchanged": 0}  # no contacts carried: no count
    after = contacts(client)
    assert set(after) == {"primary", "ap", "law"} and after["law"]["name"] == "Cabinet Durand"
    assert after["primary"]["email"] == "new@acme.example"


def test_a_batch_with_a_bad_contact_writes_nothing_and_names_each_row_and_field(client):
    bad = [
        customer("C1", contacts=[{**BILLING, "email": "not-an-address"}, {**LEGAL, "roles": ["lawyer"]}]),
        customer("C2", contacts=[BILLING, {**BILLING, "name": "again"}]),
        customer("C3", contacts=[{"external_id": "primary", "email": "x@acme.example", "roles": ["billing"]}]),
        customer("C4", contacts=[{"external_id": "nobody", "roles": ["billing"], "phone": "12"}]),
        customer("C5", contacts=[{**BILLING, "name": "Bad\x00name"}]),
    ]
    r = client.post("/v1/customers/bulk", json={"customers": bad})
    assert r.status_code == 422
    errors = {(e["index"], e["field"]) for e in r.json()["errors"]}
    assert {
        (0, "contacts.0.email"),
        (0, "contacts.1.roles.0"),
        (1, "contacts.1.external_id"),
        (2, "contacts.0.external_id"),
        (3, "contacts.0.phone"),
        (4, "contacts.0.name"),
    } <= errors, errors
    assert client.get("/v1/customers/C2").status_code == 404  # all or nothing

    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    r = client.post(
        "/v1/contacts/bulk",
        json={
            "contacts": [
                {**BILLING, "customer_external_id": "C1"},
                {**BILLING, "customer_external_id": "C1"},
                {**LEGAL, "customer_external_id": "GONE"},
                {**BILLING, "customer_external_id": "C1", "external_id": "x", "roles": []},
            ]
        },
    )
    assert r.status_code == 422
    # an unknown customer has no country in which a national number could be read
    assert {(e["index"], e["field"]) for e in r.json()["errors"]} == {
        (1, "external_id"),
        (2, "customer_external_id"),
        (2, "phone"),
        (3, "roles"),
    }
    assert set(contacts(client)) == {"primary"}


def test_contacts_are_held_to_the_same_bounds(client):
    many = [{**BILLING, "external_id": f"c{i}"} for i in range(21)]
    long_name = {**BILLING, "name": "x" * 301}
    r = client.post(
        "/v1/customers/bulk", json={"customers": [customer("C1", contacts=many), customer("C2", contacts=[long_name])]}
    )
    assert r.status_code == 422
    assert {(e["index"], e["field"]) for e in r.json()["errors"]} == {(0, "contacts"), (1, "contacts.0.name")}
