from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from dunning import api_keys
from dunning.app import create_app
from tests.conftest import make_client, new_key

# Routes authenticated by a provider's signature instead of an API key; each has its own test
# proving that a bad signature is refused.
SIGNED_ROUTES: set[str] = {
    "/v1/inbound/twilio/sms",
    "/v1/inbound/twilio/status",  # tests/replies/test_twilio_webhooks.py
    "/v1/inbound/stripe",
}  # tests/payments/test_stripe_webhook.py


def v1_routes(app):
    for context in iter_route_contexts(app.routes):  # flattens included routers
        route = context.original_route
        if isinstance(route, APIRoute) and route.path.startswith("/v1") and route.path not in SIGNED_ROUTES:
            for method in route.methods:
                yield method, route


def required_scope(route: APIRoute) -> str:
    scopes = {getattr(d.call, "required_scope", None) for d in route.dependant.dependencies} - {None}
    assert len(scopes) == 1, f"{route.path} must declare exactly one scope with require(...)"
    return scopes.pop()


def call(client: TestClient, method: str, path: str):
    url = re.sub(r"\{[^}]+\}", "x", path)
    return client.request(method, url, json={})


def test_every_v1_route_refuses_missing_wrong_and_underscoped_keys(app, db, clock):
    routes = list(v1_routes(app))
    assert len(routes) >= 8
    anonymous = make_client(app, None)
    wrong = make_client(app, "dk_not-a-real-key")
    for method, route in routes:
        scope = required_scope(route)
        assert call(anonymous, method, route.path).status_code == 401, route.path
        assert call(wrong, method, route.path).status_code == 401, route.path
        others = [s for s in api_keys.SCOPES if s not in (scope, "admin")]
        underscoped = make_client(app, new_key(db, clock, others))
        r = call(underscoped, method, route.path)
        assert r.status_code == 403, (route.path, r.text)
        assert scope in r.json()["message"]


def test_a_revoked_key_is_refused(app, db, clock):
    secret = new_key(db, clock, ["read"])
    client = make_client(app, secret)
    assert client.get("/v1/customers").status_code == 200
    with db.session() as s:
        key = s.exec(
            api_keys.select(api_keys.ApiKey).where(api_keys.ApiKey.key_hash == api_keys.hash_key(secret))
        ).one()
        api_keys.revoke_key(s, clock, key.id)
    assert client.get("/v1/customers").status_code == 401


def test_the_bootstrap_key_is_ensured_at_start_up(settings, db, clock):
    settings = settings.model_copy(update={"bootstrap_api_key": "dk_bootstrap_for_tests_0123456789"})
    app = create_app(settings, database=db, clock=clock, embedded_worker=False)
    for _ in range(2):  # twice: idempotent
        with TestClient(app, headers={"Authorization": "Bearer dk_bootstrap_for_tests_0123456789"}) as c:
            assert c.get("/v1/customers").status_code == 200
    with db.session() as s:
        assert len(s.exec(api_keys.select(api_keys.ApiKey)).all()) == 1


def test_keys_are_stored_hashed(db, clock):
    with db.session() as s:
        key, secret = api_keys.create_key(s, clock, "erp", ["ingest"])
        assert secret not in (key.key_hash, key.hint) and len(secret) > 40
        assert key.key_hash == api_keys.hash_key(secret)


def test_unknown_scopes_are_refused(db, clock):
    with db.session() as s, pytest.raises(api_keys.InvalidInput):
        api_keys.create_key(s, clock, "x", ["superuser"])
