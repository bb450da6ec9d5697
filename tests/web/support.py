"""Desk and portal helpers: accounts, signing in through the real form, reading form tokens."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from dunning.links import portal_token
from dunning.web.auth import users

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(db, clock, role: str, email: str | None = None, password: str = PASSWORD) -> str:
    email = email or f"{role}@example.com"
    with db.session() as session:
        users.create(session, clock, email=email, role=role, password=password, actor="test")
    return email


def form_token(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD, *, follow: bool = False):
    page = client.get("/desk/login")
    return client.post(
        "/desk/login",
        data={"email": email, "password": password, "csrf_token": form_token(page.text), "next": "/desk"},
        follow_redirects=follow,
    )


def desk(app, db, clock, role: str, email: str | None = None) -> tuple[TestClient, str]:
    """A client signed in with `role`, and its session's CSRF token."""
    client = TestClient(app, raise_server_exceptions=False)
    email = make_user(db, clock, role, email)
    assert sign_in(client, email).status_code == 303
    return client, form_token(client.get("/desk").text)


def portal(app, settings, customer_id: int) -> tuple[TestClient, str, str]:
    """A browser on a customer's portal: the client, the page path and the page's form token."""
    client = TestClient(app, raise_server_exceptions=False)
    path = f"/portal/{portal_token(settings, customer_id, app.state.clock)}"
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client, path, form_token(page.text)


def sign_in_page(page, base: str, email: str, password: str = PASSWORD) -> None:
    """Sign in at the desk in a browser page (Playwright)."""
    page.goto(f"{base}/desk")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("form#login button[type=submit]")
