"""Secrets safe by default: no placeholder key, no setting values in errors, links that die with
the contact details they were sent to, tokens and customer text kept out of the logs, and an
unhandled error logged once with the connection kept."""

from __future__ import annotations

import logging
import socket
import stat
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from dunning.app import create_app
from dunning.audit import AuditEvent
from dunning.config import Settings
from dunning.contacts import OptOut
from dunning.ledger.models import Customer
from dunning.links import portal_token, portal_url, read_token, unsubscribe_token
from tests.builders import customer
from tests.outbox.support import tasks
from tests.server import serving
from tests.web.support import desk

PG = "postgresql://dunning:dunning@db.example.com/dunning"


def test_without_a_secret_key_one_is_generated_on_first_start_and_kept_private(tmp_path, db, clock):
    first = Settings(_env_file=None, var_dir=tmp_path / "var")
    create_app(first, database=db, clock=clock, embedded_worker=False)  # the first start makes it
    path = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.signing_key) >= 32 and first.signing_key != "dev-only-secret-change-me"
    again = Settings(_env_file=None, var_dir=tmp_path / "var")  # a restart, or the worker process
    token = portal_token(first, 1, clock)
    assert read_token(again, "portal", token, clock=clock).customer_id == 1
    # a link minted with the placeholder every installation used to share is worth nothing
    forged = URLSafeTimedSerializer("dev-only-secret-change-me", salt="dunning.portal").dumps({"c": 1})
    client = TestClient(create_app(again, database=db, clock=clock, embedded_worker=False))
    assert client.get(f"/portal/{forged}").status_code == 403


@pytest.mark.parametrize(
    "values, refusal",
    [
        ({"secret_key": "too-short-TAIL1234"}, "DUNNING_SECRET_KEY must be set"),
        ({}, "DUNNING_SECRET_KEY must be set"),
        ({"secret_key": "k" * 40 + "TAIL1234", "database_url": "sqlite:///var/x.db"}, "needs DUNNING_DATABASE_URL"),
        ({"secret_key": "k" * 40 + "TAIL1234", "bootstrap_api_key": "x"}, "DUNNING_BOOTSTRAP_API_KEY must have 32+"),
        ({"secret_key": "k" * 40 + "TAIL1234", "port": "not-a-port-TAIL1234"}, "port"),
    ],
)
def test_production_refuses_to_start_and_never_prints_a_setting(tmp_path, values, refusal):
    settings = {
        "environment": "production",
        "database_url": PG,
        "var_dir": tmp_path,
        "smtp_password": "hunter2-smtp",
        "twilio_auth_token": "twilio-token-value",
        **values,
    }
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, **settings)
    text = str(refused.value)
    assert refusal in text
    for secret in ("TAIL1234", "hunter2", "twilio-token-value", "db.example.com"):
        assert secret not in text
    assert not (tmp_path / "secret_key").exists()  # production never generates one


def test_production_takes_a_long_bootstrap_key(tmp_path):
    settings = Settings(
        _env_file=None,
        environment="production",
        database_url=PG,
        secret_key="s" * 40,
        bootstrap_api_key="b" * 32,
        var_dir=tmp_path,
    )
    assert settings.signing_key == "s" * 40


def push(client, **fields) -> None:
    r = client.post("/v1/customers/bulk", json={"customers": [customer("C1", **fields)]})
    assert r.status_code == 200, r.text


def row(db) -> Customer:
    with db.session() as session:
        return session.execute(select(Customer).where(Customer.external_id == "C1")).scalar_one()


@pytest.mark.parametrize(
    "change", [{"email": "new@example.com"}, {"phone": "+33699999999"}, {"address": "1 new street"}]
)
def test_a_pushed_contact_change_ends_the_links_sent_before(client, db, settings, clock, change):
    push(client, address="1 old street")
    old = urlsplit(portal_url(settings, row(db), clock)).path
    assert client.get(old).status_code == 200
    push(client, address="1 old street", name="Renamed Ltd")  # not a contact detail: the links stay
    assert client.get(old).status_code == 200
    push(client, **{"address": "1 old street", "name": "Renamed Ltd", **change})
    refused = client.get(old)
    assert refused.status_code == 403 and "replaced" in refused.text
    assert client.get(urlsplit(portal_url(settings, row(db), clock)).path).status_code == 200


def test_the_desk_revokes_a_customers_links(client, app, db, settings, clock):
    push(client)
    old = urlsplit(portal_url(settings, row(db), clock)).path
    agent, agent_token = desk(app, db, clock, "agent")
    assert agent.post("/desk/customers/C1/revoke-links", data={"csrf_token": agent_token}).status_code == 403
    assert client.get(old).status_code == 200
    manager, token = desk(app, db, clock, "manager")
    assert "Revoke links" in manager.get("/desk/customers/C1").text
    r = manager.post("/desk/customers/C1/revoke-links", data={"csrf_token": token})
    assert r.status_code == 200 and "Links revoked" in r.text
    assert client.get(old).status_code == 403
    with db.session() as session:
        [event] = session.execute(select(AuditEvent).where(AuditEvent.action == "customer.links_revoked")).scalars()
    assert event.actor == "user:manager@example.com" and event.data["version"] == 2


def test_an_outdated_unsubscribe_link_still_stops_the_channel_and_a_person_checks(client, app, db, settings, clock):
    push(client)
    token = unsubscribe_token(settings, row(db).id, "email", clock)  # version 1
    push(client, email="someone-else@example.com")
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    with db.session() as session:
        assert session.execute(select(OptOut.channel)).scalars().all() == ["email"]
    [task] = [t for t in tasks(db, kind="review") if "outdated link" in t.title]
    assert task.customer_id == row(db).id


def test_tokens_stay_out_of_the_access_log(app, settings, db, clock):
    portal = portal_token(settings, 1, clock)
    unsubscribe = unsubscribe_token(settings, 1, "email", clock)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    access = logging.getLogger("uvicorn.access")
    with serving(app) as url:
        level = access.level  # the server set it from its log level: access lines are INFO
        access.setLevel(logging.INFO)
        access.addHandler(handler)
        try:
            with httpx.Client(base_url=url) as http:
                http.get(f"/portal/{portal}?done=promise")
                http.post(f"/unsubscribe/{unsubscribe}")
                http.get(f"/desk/login?next=/portal/{portal}")
        finally:
            access.removeHandler(handler)
            access.setLevel(level)
    lines = [r.getMessage() for r in records]
    assert len(lines) == 3 and "/portal/[token]?done=promise" in lines[0], lines
    assert not any(portal in line or unsubscribe in line for line in lines), lines


def test_sql_parameters_stay_out_of_errors(db, clock):
    with pytest.raises(IntegrityError) as failed, db.session() as session:
        session.execute(
            insert(Customer).values(
                external_id="C9",
                name="Private Person, 12 Secret Lane",
                content_hash=None,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    assert "Secret Lane" not in str(failed.value) and "hidden" in str(failed.value)


def test_an_unhandled_error_is_logged_once_and_the_connection_is_kept(app, caplog):
    def boom() -> None:
        raise RuntimeError("something nobody foresaw")

    app.add_api_route("/v1/boom", boom)
    caplog.set_level(logging.ERROR)
    uvicorn_errors: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.ERROR)
    handler.emit = uvicorn_errors.append
    logging.getLogger("uvicorn.error").addHandler(handler)
    try:
        with serving(app) as url:
            parts = urlsplit(url)
            with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
                answers = []
                for path in ("/v1/boom", "/v1/customers"):  # two requests on one connection
                    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
                    answers.append(read_response(sock))
    finally:
        logging.getLogger("uvicorn.error").removeHandler(handler)
    assert answers[0].startswith(b"HTTP/1.1 500") and b"connection: close" not in answers[0].lower()
    assert answers[1].startswith(b"HTTP/1.1 401")  # the same connection answered the next request
    logged = [r for r in caplog.records if r.exc_info] + uvicorn_errors
    assert len(logged) == 1 and "something nobody foresaw" in str(logged[0].exc_info[1])


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head
