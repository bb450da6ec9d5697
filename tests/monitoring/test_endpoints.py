"""/healthz, /readyz and /metrics through the HTTP client, on each database; the exposition is
read back with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import socket
from datetime import date, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from dunning import scheduler
from dunning.app import create_app
from dunning.db import Database, make_engine
from dunning.migrate import upgrade
from dunning.monitoring import metrics as process_metrics
from dunning.outbox.models import Message
from dunning.records.replies import InboundMessage
from dunning.webhooks import service as webhook_service
from dunning.webhooks.models import WebhookEndpoint
from tests.builders import customer, invoice
from tests.conftest import make_client, new_key
from tests.outbox.support import ADDRESS, seed


def samples(response: httpx.Response) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, its labels) -> value, as Prometheus would read them."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable_app(settings, clock):
    """An app whose database refuses connections: nothing listens on the port."""
    port = free_port()
    database = Database(
        make_engine(f"postgresql://nobody:nothing@127.0.0.1:{port}/none", connect_args={"connect_timeout": 2})
    )
    return create_app(settings, database=database, clock=clock, embedded_worker=False)


def test_healthz_answers_without_a_key_or_the_database(settings, clock):
    # no `with`: start-up (which needs the database) is not run, as when the database is down
    anonymous = TestClient(unreachable_app(settings, clock), raise_server_exceptions=False)
    r = anonymous.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_names_an_unreachable_database_and_metrics_still_answer(settings, clock):
    settings = settings.model_copy(update={"metrics_require_key": False})
    anonymous = TestClient(unreachable_app(settings, clock), raise_server_exceptions=False)
    r = anonymous.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["ready"] is False and body["not_ready"] == ["database", "migrations"]
    assert body["checks"]["database"] == "not reachable"
    assert "nothing" not in r.text and "nobody" not in r.text  # never the credentials
    found = samples(anonymous.get("/metrics"))
    assert found[("dunning_state_up", ())] == 0
    assert ("dunning_messages", (("channel", "email"), ("status", "queued"))) not in found
    assert any(name == "process_cpu_seconds_total" for name, _ in found)  # the process metrics are there


def test_readyz_is_ready_at_the_head_revision_without_an_embedded_scheduler(client):
    anonymous = TestClient(client.app)
    r = anonymous.get("/readyz")
    assert r.status_code == 200, r.text
    checks = r.json()["checks"]
    assert checks["database"] == "reachable"
    assert checks["migrations"].startswith("at head ")
    assert checks["scheduler"].startswith("not embedded")


def test_readyz_is_not_ready_while_a_migration_is_pending_and_ready_on_a_newer_schema(client, connection):
    anonymous = TestClient(client.app)
    head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    previous = f"{int(head) - 1:04d}"
    connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": previous})
    r = anonymous.get("/readyz")
    assert r.status_code == 503
    assert r.json()["not_ready"] == ["migrations"]
    assert r.json()["checks"]["migrations"] == "1 migration(s) pending: run `main.py db upgrade`"
    # a newer release migrated first (a rolling update): the old replicas keep serving
    connection.execute(text("UPDATE alembic_version SET version_num = 'zz_newer_release'"))
    r = anonymous.get("/readyz")
    assert r.status_code == 200
    assert "newer than this release" in r.json()["checks"]["migrations"]


def test_readyz_follows_the_embedded_scheduler(settings, clock, tmp_path):
    # its own database: the scheduler's job store writes outside any test transaction
    engine = make_engine(f"sqlite:///{tmp_path / 'embedded.db'}")
    upgrade(engine)
    app = create_app(settings, database=Database(engine), clock=clock, embedded_worker=True)
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["scheduler"] == "running"
        app.state.worker.scheduler.pause()  # no job fires, though APScheduler calls itself running
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["not_ready"] == ["scheduler"]
        assert r.json()["checks"]["scheduler"].startswith("not running")
    engine.dispose()


def test_metrics_ask_for_a_read_key_unless_told_not_to(app, db, clock, settings):
    with TestClient(app) as anonymous:  # start-up runs
        assert anonymous.get("/metrics").status_code == 401
    assert make_client(app, new_key(db, clock, ["ingest"])).get("/metrics").status_code == 403
    assert make_client(app, new_key(db, clock, ["read"])).get("/metrics").status_code == 200
    open_app = create_app(
        settings.model_copy(update={"metrics_require_key": False}), database=db, clock=clock, embedded_worker=False
    )
    assert TestClient(open_app).get("/metrics").status_code == 200


def test_metrics_report_the_outbox_the_queue_webhooks_replies_the_model_and_the_jobs(client, db, clock, settings):
    before = samples(client.get("/metrics"))
    assert before[("dunning_state_up", ())] == 1
    assert before[("dunning_model_info", (("version", "baseline"),))] == 1
    assert before[("dunning_outbox_due_messages", ())] == 0
    assert before[("dunning_outbox_oldest_due_age_seconds", ())] == 0

    seed(
        db,
        clock,
        [customer("C1", address=ADDRESS, phone="+33612345678")],
        [invoice(f"I{i}", due=date(2026, 2, 20) + timedelta(days=i), total="400.00") for i in range(2)],
    )
    with db.session() as s:
        s.add(
            WebhookEndpoint(
                url="https://crm.example.com/hooks",
                events=["*"],
                secret="whsec_x",
                created_at=clock.now(),
                created_by="test",
                cursor=0,
            )
        )
    worker = scheduler.Worker(settings, db, clock)
    scheduler._worker = worker  # as Worker.start leaves it, without starting APScheduler
    try:
        worker.cycle()  # plans the first reminder, by email
        with db.session() as s:
            events = webhook_service.fan_out(s, clock)
            send_after = s.execute(select(Message.send_after).where(Message.status == "queued")).scalar_one()
            s.add(
                InboundMessage(
                    channel="sms",
                    sender="+33612345678",
                    matched_by="phone",
                    language="fr",
                    raw_text="ok",
                    reply_text="ok",
                    intent="other",
                    confidence=0.5,
                    received_at=clock.now(),
                )
            )
        clock.advance(send_after - clock.now() + timedelta(minutes=7))  # the reminder has waited 7 minutes
        middle = samples(client.get("/metrics"))
        asyncio.run(scheduler.dispatch_job())
    finally:
        scheduler._worker = None
        asyncio.run(worker.dispatcher.close())
    after = samples(client.get("/metrics"))

    queued_email = ("dunning_messages", (("channel", "email"), ("status", "queued")))
    assert middle[queued_email] == 1
    assert middle[("dunning_outbox_due_messages", ())] == 1
    assert middle[("dunning_outbox_oldest_due_age_seconds", ())] == 7 * 60
    assert events >= 2  # case.opened and case.step_planned at least
    assert middle[("dunning_webhook_deliveries", (("status", "pending"),))] == events
    assert middle[("dunning_inbound_messages_total", (("channel", "sms"),))] == 1
    # dispatch sent it (to the file transport): the state moves, and the job's own figures count it
    assert after[("dunning_messages", (("channel", "email"), ("status", "sent")))] == 1
    assert queued_email not in after
    assert after[("dunning_outbox_due_messages", ())] == 0
    for job in ("cycle", "dispatch"):
        key = ("dunning_job_duration_seconds_count", (("job", job),))
        assert after[key] == before.get(key, 0) + 1
        assert after[("dunning_job_last_success_timestamp_seconds", (("job", job),))] > 0
    sent = ("dunning_dispatch_outcomes_total", (("outcome", "sent"),))
    assert after[sent] == before.get(sent, 0) + 1


def test_a_failed_run_is_counted_and_goes_on_up():
    key = process_metrics.FAILURES.labels("test_job")
    failed = key._value.get()
    with pytest.raises(RuntimeError), process_metrics.timed("test_job"):
        raise RuntimeError("boom")
    assert key._value.get() == failed + 1


def test_a_worker_serves_its_own_metrics_without_the_state(settings):
    port = free_port()
    server, thread = process_metrics.serve("127.0.0.1", port)
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/metrics")
        names = {name for name, _ in samples(r)}
    finally:
        server.shutdown()
        thread.join(5)
    assert "process_cpu_seconds_total" in names
    assert not {n for n in names if n.startswith(("dunning_messages", "dunning_state_up"))}
