"""Every desk page refuses anonymous visitors and the roles below it; every form of the desk and the
portal refuses a POST without its CSRF token. The routes are walked, not listed, so a new page or
form is covered the day it is added."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from dunning.clock import FrozenClock
from dunning.links import portal_token
from dunning.web.errors import CsrfRefused
from tests.builders import customer, invoice
from tests.conftest import START
from tests.outbox.support import seed
from tests.web.support import PASSWORD, desk, form_token, make_user

CSRF_REFUSAL = CsrfRefused().message


def web_routes(app, prefix: str):
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.path.startswith(prefix):
            for method in sorted(route.methods):
                yield method, route


def required_role(route: APIRoute) -> str:
    def walk(dependant):
        for d in dependant.dependencies:
            role = getattr(d.call, "required_role", None)
            yield from ([role] if role else walk(d))

    roles = set(walk(route.dependant))
    assert len(roles) == 1, f"{route.path} must declare exactly one role with role(...)"
    return roles.pop()


@pytest.fixture
def ids(db, clock):
    return seed(
        db,
        clock,
        [customer("C1"), customer("C2")],
        [invoice("I1", "C1", due=date(2026, 2, 1)), invoice("I2", "C2", due=date(2026, 2, 1))],
    )


def url(route: APIRoute, settings, customer_id: int, token: str | None = None) -> str:
    values = {
        "external_id": "C1",
        "name": "default",
        "token": token or portal_token(settings, customer_id, FrozenClock(START)),
    }
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(values.get(m.group(1), 1)), route.path)


def form(clock) -> dict:
    """A plausible value for every field any form has: without the CSRF check the action would run."""
    today = clock.now().date()
    return {
        "decision": "approve",
        "outcome": "cancel",
        "assignee": "",
        "text": "a note",
        "note": "a note",
        "case_id": "1",
        "policy_name": "",
        "currency": "EUR",
        "promised_on": (today + timedelta(days=3)).isoformat(),
        "amount": "",
        "count": "3",
        "first_due": (today + timedelta(days=7)).isoformat(),
        "email": "new@example.com",
        "role": "agent",
        "password": "a long enough password",
        "name": "New",
        "active": "false",
        "document": "name: default",
        "action": "preview",
        "invoice_id": "1",
        "reason": "other",
        "phone": "",
        "channel": "sms",
        "wanted": "false",
        "next": "/desk",
    }


DESK_PAGES = ["/desk", "/desk/worklist", "/desk/customers", "/desk/outbox", "/desk/policies", "/desk/users"]


def test_every_desk_route_sends_an_anonymous_visitor_to_sign_in(app, settings, ids, clock):
    anonymous = TestClient(app, raise_server_exceptions=False)
    routes = [(m, r) for m, r in web_routes(app, "/desk") if r.path != "/desk/login"]
    assert len(routes) >= 20
    for method, route in routes:
        r = anonymous.request(method, url(route, settings, ids["C1"]), data=form(clock), follow_redirects=False)
        assert r.status_code == 303, (method, route.path, r.status_code)
        assert r.headers["location"].startswith("/desk/login"), route.path
    assert set(DESK_PAGES) <= {r.path for _, r in routes}


@pytest.mark.parametrize("role, refused", [("agent", {"manager", "admin"}), ("manager", {"admin"})])
def test_every_desk_route_above_a_role_refuses_it(app, db, clock, settings, ids, role, refused):
    client, token = desk(app, db, clock, role)
    checked = 0
    for method, route in web_routes(app, "/desk"):
        if route.path == "/desk/login" or required_role(route) not in refused:
            continue
        r = client.request(
            method, url(route, settings, ids["C1"]), data={**form(clock), "csrf_token": token}, follow_redirects=False
        )
        assert r.status_code == 403, (role, method, route.path, r.status_code)
        assert "This page is for the" in r.text
        checked += 1
    assert checked >= (8 if role == "agent" else 4)
    for path in DESK_PAGES:  # and the pages of its own role open
        wanted = {"/desk/policies": "manager", "/desk/users": "admin"}.get(path, "agent")
        expected = 403 if wanted in refused else 200
        assert client.get(path).status_code == expected, (role, path)


def test_every_desk_form_refuses_a_missing_or_wrong_csrf_token(app, db, clock, settings, ids):
    client, token = desk(app, db, clock, "admin")
    other, other_token = desk(app, db, clock, "admin", "other-admin@example.com")
    assert other_token != token  # per session
    posts = [r for m, r in web_routes(app, "/desk") if m == "POST" and r.path != "/desk/login"]
    assert len(posts) >= 15
    posts.sort(key=lambda r: r.path == "/desk/logout")  # signing out last
    for route in posts:
        target = url(route, settings, ids["C1"])
        for bad in ({}, {"csrf_token": "forged"}, {"csrf_token": other_token}):
            r = client.post(target, data={**form(clock), **bad}, follow_redirects=False)
            assert r.status_code == 403 and CSRF_REFUSAL in r.text, (route.path, bad, r.status_code)
        # the control: with its token the same request is not refused by the check
        r = client.post(target, data={**form(clock), "csrf_token": token}, follow_redirects=False)
        assert CSRF_REFUSAL not in r.text and r.status_code != 403, (route.path, r.status_code, r.text[:300])


def test_the_sign_in_form_refuses_a_missing_or_wrong_csrf_token(app, db, clock):
    make_user(db, clock, "agent", "s@example.com")
    client = TestClient(app, raise_server_exceptions=False)
    client.get("/desk/login")
    for bad in ({}, {"csrf_token": "forged"}):
        r = client.post(
            "/desk/login", data={"email": "s@example.com", "password": PASSWORD, **bad}, follow_redirects=False
        )
        assert r.status_code == 403 and CSRF_REFUSAL in r.text
    # a token without the cookie it was made for is no better
    token = form_token(client.get("/desk/login").text)
    fresh = TestClient(app, raise_server_exceptions=False)
    r = fresh.post(
        "/desk/login",
        data={"email": "s@example.com", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 403


def test_every_portal_form_refuses_a_missing_or_wrong_csrf_token(app, clock, settings, ids):
    client = TestClient(app, raise_server_exceptions=False)
    page = client.get(f"/portal/{portal_token(settings, ids['C1'], clock)}")
    token = form_token(page.text)
    # another customer's page gives a token for that customer only
    other_token = form_token(client.get(f"/portal/{portal_token(settings, ids['C2'], clock)}").text)
    posts = [r for m, r in web_routes(app, "/portal") if m == "POST"]
    assert len(posts) >= 5
    link = None
    for route in posts:
        target = url(route, settings, ids["C1"], link)
        for bad in ({}, {"csrf_token": "forged"}, {"csrf_token": other_token}):
            r = client.post(target, data={**form(clock), **bad}, follow_redirects=False)
            assert r.status_code == 403 and CSRF_REFUSAL in r.text, (route.path, bad, r.status_code)
        r = client.post(target, data={**form(clock), "csrf_token": token}, follow_redirects=False)
        assert CSRF_REFUSAL not in r.text and r.status_code != 403, (route.path, r.status_code, r.text[:300])
        if r.status_code == 303:  # a new email moves the link on: the next forms are posted from the new one
            link = r.headers["location"].split("/")[2].split("?")[0]


def test_web_pages_carry_security_headers(app, db, clock, settings, ids):
    client, _ = desk(app, db, clock, "agent")
    headers = client.get("/desk").headers
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-frame-options"] == "SAMEORIGIN"
    portal = TestClient(app).get(f"/portal/{portal_token(settings, ids['C1'], clock)}").headers
    assert portal["referrer-policy"] == "no-referrer"  # the link is the credential: never leak it
    assert portal["cache-control"] == "no-store" and portal["x-frame-options"] == "DENY"
