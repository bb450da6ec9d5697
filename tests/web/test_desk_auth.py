"""Signing in to the desk: argon2 passwords, the lock-out, the session cookie and its expiry."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from dunning.app import create_app
from dunning.audit import AuditEvent
from dunning.cli import app as cli
from dunning.db import Database, make_engine
from dunning.records.desk import DeskUser
from dunning.web.auth import sessions, users
from tests.server import serving
from tests.web.support import PASSWORD, desk, form_token, make_user, sign_in


def anonymous(app) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def test_a_person_signs_in_and_out(app, db, clock):
    make_user(db, clock, "agent", "ann@example.com")
    client = anonymous(app)
    assert client.get("/desk", follow_redirects=False).headers["location"] == "/desk/login?next=/desk"
    r = sign_in(client, "Ann@Example.com")  # emails are not case-sensitive
    assert r.status_code == 303 and r.headers["location"] == "/desk"
    page = client.get("/desk")
    assert page.status_code == 200 and "Overview" in page.text
    cookie = client.cookies.get(sessions.COOKIE)

    assert (
        client.post("/desk/logout", data={"csrf_token": form_token(page.text)}, follow_redirects=False).headers[
            "location"
        ]
        == "/desk/login"
    )
    stolen = anonymous(app)
    stolen.cookies.set(sessions.COOKIE, cookie, path="/desk")
    assert stolen.get("/desk", follow_redirects=False).status_code == 303  # the old cookie is worth nothing


def test_passwords_are_stored_as_argon2_hashes(db, clock):
    make_user(db, clock, "agent", "h@example.com")
    with db.session() as session:
        user = users.by_email(session, "h@example.com")
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_the_session_cookie_is_signed_httponly_and_lax(app, db, clock, settings):
    make_user(db, clock, "agent", "c@example.com")
    header = sign_in(anonymous(app), "c@example.com").headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/desk" in header
    assert "Secure" not in header  # plain http here; see the next test
    assert sessions.cookie_options(settings.model_copy(update={"public_url": "https://dunning.example.com"}))["secure"]

    forged = anonymous(app)
    forged.cookies.set(sessions.COOKIE, "forged.signature", path="/desk")
    assert forged.get("/desk", follow_redirects=False).status_code == 303


def test_a_wrong_email_and_a_wrong_password_look_the_same(app, db, clock):
    make_user(db, clock, "agent", "w@example.com")
    client = anonymous(app)
    wrong_password = sign_in(client, "w@example.com", "not the password at all")
    unknown = sign_in(client, "nobody@example.com", "not the password at all")
    assert wrong_password.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong_password.text and "Wrong email or password." in unknown.text


def test_five_failures_lock_the_account_for_fifteen_minutes(app, db, clock):
    make_user(db, clock, "manager", "m@example.com")
    client = anonymous(app)
    for _ in range(5):
        assert sign_in(client, "m@example.com", "guess-guess-guess").status_code == 401
    # locked: even the right password is refused, with the same answer
    locked = sign_in(client, "m@example.com")
    assert locked.status_code == 401 and "Wrong email or password." in locked.text
    clock.advance(minutes=14)
    assert sign_in(client, "m@example.com").status_code == 401
    clock.advance(minutes=1, seconds=1)
    assert sign_in(client, "m@example.com").status_code == 303
    with db.session() as session:
        user = users.by_email(session, "m@example.com")
        assert user.failed_logins == 0 and user.locked_until is None
        actions = list(
            session.execute(
                select(AuditEvent.action).where(AuditEvent.subject_id == "m@example.com").order_by(AuditEvent.id)
            ).scalars()
        )
    assert actions.count("desk.login_failed") == 5 and "desk_user.locked" in actions
    assert actions.count("desk.login_locked") == 2 and actions[-1] == "desk.login"


@pytest.mark.committed
def test_thirty_sign_ins_at_once_count_no_more_failures_than_the_lock_allows(committed_db, clock, settings):
    """Failures are counted before the password is checked, in one statement on the user's row:
    parallel guesses cannot all be checked before the first is counted."""
    app = create_app(settings, database=committed_db, clock=clock, embedded_worker=False)
    make_user(committed_db, clock, "manager", "race@example.com")
    barrier = threading.Barrier(30)

    def guess(n: int) -> int:
        with httpx.Client(base_url=url, timeout=60) as client:
            token = form_token(client.get("/desk/login").text)
            barrier.wait()
            return client.post(
                "/desk/login", data={"email": "race@example.com", "password": f"guess number {n}", "csrf_token": token}
            ).status_code

    with serving(app) as url:
        with ThreadPoolExecutor(30) as pool:
            assert list(pool.map(guess, range(30))) == [401] * 30
        with httpx.Client(base_url=url, timeout=60) as client:
            token = form_token(client.get("/desk/login").text)
            right = client.post(
                "/desk/login", data={"email": "race@example.com", "password": PASSWORD, "csrf_token": token}
            )
    assert right.status_code == 401  # locked: the right password waits out the lock-out
    with committed_db.session() as session:
        actions = list(
            session.execute(select(AuditEvent.action).where(AuditEvent.subject_id == "race@example.com")).scalars()
        )
        user = users.by_email(session, "race@example.com")
    assert actions.count("desk.login_failed") == settings.login_max_failures
    assert actions.count("desk_user.locked") == 1 and actions.count("desk.login_locked") == 31 - 5
    assert user.locked_until is not None


def test_a_success_resets_the_count_of_failures(app, db, clock):
    make_user(db, clock, "agent", "r@example.com")
    client = anonymous(app)
    for _ in range(4):
        sign_in(client, "r@example.com", "wrong-wrong-wrong")
    assert sign_in(client, "r@example.com").status_code == 303
    client = anonymous(app)
    for _ in range(4):
        sign_in(client, "r@example.com", "wrong-wrong-wrong")
    assert sign_in(client, "r@example.com").status_code == 303


def test_sessions_end_after_an_idle_hour_and_after_twelve_hours(app, db, clock):
    client, _ = desk(app, db, clock, "agent")
    clock.advance(minutes=59)
    assert client.get("/desk", follow_redirects=False).status_code == 200
    clock.advance(minutes=61)
    assert client.get("/desk", follow_redirects=False).status_code == 303

    client, _ = desk(app, db, clock, "agent", "busy@example.com")
    for _ in range(24):  # busy all day: a request every half hour
        clock.advance(minutes=30)
        if client.get("/desk", follow_redirects=False).status_code != 200:
            break
    assert client.get("/desk", follow_redirects=False).status_code == 303
    assert _ == 23  # the 24th half hour reaches the twelve hours


def test_a_deactivated_person_is_signed_out_at_once(app, db, clock):
    client, _ = desk(app, db, clock, "agent")
    with db.session() as session:
        user = users.by_email(session, "agent@example.com")
        users.set_active(session, clock, user.id, False, "test")
    assert client.get("/desk", follow_redirects=False).status_code == 303
    assert sign_in(anonymous(app), "agent@example.com").status_code == 401


def test_sign_in_only_returns_into_the_desk(app, db, clock):
    make_user(db, clock, "agent", "n@example.com")
    for target, expected in [
        ("/desk/worklist?kind=call", "/desk/worklist?kind=call"),
        ("https://evil.example", "/desk"),
        ("//evil.example/desk", "/desk"),
        ("/desk/../portal", "/desk/../portal"),
    ]:
        client = anonymous(app)
        page = client.get("/desk/login")
        r = client.post(
            "/desk/login",
            data={"email": "n@example.com", "password": PASSWORD, "csrf_token": form_token(page.text), "next": target},
            follow_redirects=False,
        )
        assert r.headers["location"] == expected


def test_the_first_admin_is_made_on_the_command_line(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DUNNING_DATABASE_URL", url)
    monkeypatch.setenv("DUNNING_VAR_DIR", str(tmp_path / "var"))
    from dunning.config import get_settings

    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(
            cli,
            [
                "user",
                "create",
                "--email",
                "Root@Example.com",
                "--role",
                "admin",
                "--password",
                "a long enough password",
            ],
        )
        assert r.exit_code == 0, r.output
        assert "root@example.com can sign in to /desk as admin" in r.output
        r = runner.invoke(
            cli,
            ["user", "create", "--email", "second@example.com", "--role", "manager"],
            input="prompted password\nprompted password\n",
        )
        assert r.exit_code == 0, r.output
        r = runner.invoke(cli, ["user", "create", "--email", "short@example.com", "--password", "short"])
        assert r.exit_code == 2 and "at least 12 characters" in r.output
        r = runner.invoke(cli, ["user", "create", "--email", "root@example.com", "--password", "another long one"])
        assert r.exit_code == 2 and "already has an account" in r.output
    finally:
        get_settings.cache_clear()
    with Database(make_engine(url)).session() as session:
        rows = {u.email: u.role for u in session.execute(select(DeskUser)).scalars()}
    assert rows == {"root@example.com": "admin", "second@example.com": "manager"}
