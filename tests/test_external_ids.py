"""External ids as accounting systems write them ("INV/2026/0001", spaces, "?", "#", "%", accents)
reach every route that names one, and every desk link to them works."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import quote, unquote

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.builders import customer, invoice
from tests.outbox.support import cycle, seed
from tests.web.support import desk

IDS = [
    ("CUST/2026/0001", "INV/2026/0001"),
    ("Dupont & fils ?#%25", "F 2026 #12 ?x=1&y=%2F"),
    ("Société/Générale", "Facture/€/ü"),
    ("...", "%"),
]
BODIES = {  # a plausible body for each route that takes one
    ("POST", "promises"): {"amount": "10.00", "currency": "EUR", "date": "2026-03-10"},
    ("POST", "plans"): {
        "currency": "EUR",
        "installments": [{"due_on": "2026-04-01", "amount": "50.00"}, {"due_on": "2026-05-01", "amount": "50.00"}],
        "outside_policy": True,
    },
    ("PATCH", "dunning"): {"excluded": False},
    ("POST", "dispute"): {"reason_code": "quality", "text": "broken"},
    ("POST", "resolve"): {"outcome": "withdrawn"},
}


def id_routes(app):
    """Every API route with an external id in its path, in an order where a dispute exists before
    it is resolved and a promise is made before a plan (which would refuse it)."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and "{external_id" in route.path and route.path.startswith("/v1"):
            found += [(method, route.path) for method in sorted(route.methods)]
    return sorted(
        found,
        key=lambda r: (r[1].endswith("/resolve"), r[1].startswith("/v1/invoices"), r[1].endswith("/plans"), r[1], r[0]),
    )


@pytest.fixture(params=IDS, ids=["slashes", "reserved", "unicode", "dots-and-percent"])
def ids(request, db, clock, settings):
    customer_id, invoice_id = request.param
    seed(
        db,
        clock,
        [customer(customer_id, email="accounts@example.com")],
        [invoice(invoice_id, customer_id, due=date(2026, 2, 1))],
    )
    cycle(db, clock, settings)
    return customer_id, invoice_id


def test_every_route_with_an_external_id_reaches_it(client, ids):
    customer_id, invoice_id = ids
    routes = id_routes(client.app)
    assert len(routes) >= 10
    for method, path in routes:
        value = invoice_id if path.startswith("/v1/invoices") else customer_id
        url = path.replace("{external_id:segment}", quote(value, safe=""))
        body = BODIES.get((method, path.rsplit("/", 1)[-1]))
        r = client.request(method, url, json=body)
        assert r.status_code in (200, 201), (method, path, r.status_code, r.text[:300])
        if path == "/v1/customers/{external_id:segment}":
            assert r.json()["external_id"] == customer_id
        if path.endswith("/dispute"):
            assert r.json()["invoice_external_id"] == invoice_id


def test_a_path_separator_inside_an_id_is_not_a_route(client, ids):
    customer_id, _ = ids
    # the id decoded into the path would be another route's (or none at all)
    r = client.get("/v1/customers/" + quote(customer_id, safe="") + "/case")
    assert r.status_code == 200 and r.json()[0]["currency"] == "EUR"
    assert client.get("/v1/customers/NOBODY%2Fcase").json()["message"] == "no customer with external_id 'NOBODY/case'"


def test_desk_links_and_forms_carry_the_id(app, db, clock, ids):
    customer_id, _ = ids
    browser, token = desk(app, db, clock, "manager")
    listing = browser.get("/desk/customers").text
    link = f'href="/desk/customers/{quote(customer_id, safe="")}"'
    assert link in listing
    page = browser.get(f"/desk/customers/{quote(customer_id, safe='')}")
    assert page.status_code == 200
    actions = set(re.findall(r'action="(/desk/customers/[^"]+)"', page.text))
    assert actions and all(a.startswith(f"/desk/customers/{quote(customer_id, safe='')}/") for a in actions), actions
    case_id = re.search(r'name="case_id" value="(\d+)"', page.text).group(1)
    hold = f"/desk/customers/{quote(customer_id, safe='')}/hold"
    r = browser.post(
        hold, data={"case_id": case_id, "until": "2026-03-20", "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and unquote(r.headers["location"]) == f"/desk/customers/{customer_id}"
    assert "Case on hold" in browser.get(r.headers["location"]).text
    assert link in browser.get("/desk/outbox").text


@pytest.mark.parametrize("bad", [".", ".."])
def test_dot_segments_cannot_be_ids(client, bad):
    # clients remove "." and ".." from a path before sending it, even percent-encoded: no link works
    r = client.post("/v1/customers/bulk", json={"customers": [customer(bad, email="a@example.com")]})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"index": 0, "field": "external_id", "message": "'.' and '..' cannot be ids: no link can carry them"}
    ]
