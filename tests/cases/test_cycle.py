from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from dunning.audit import AuditEvent
from dunning.cases.cycle import run_cycle
from dunning.cases.models import Case
from dunning.outbox.models import Message
from tests.builders import customer, invoice, payment
from tests.outbox.support import ADDRESS, cycle, dispatch, messages


def seed(client, *, kind="business", invoices=3, due=date(2026, 2, 20)):
    client.post("/v1/customers/bulk", json={"customers": [customer("C1", kind=kind, address=ADDRESS)]})
    r = client.post(
        "/v1/invoices/bulk",
        json={"invoices": [invoice(f"I{i}", due=due + timedelta(days=i), total="400.00") for i in range(invoices)]},
    )
    assert r.status_code == 200, r.text


def test_one_consolidated_message_per_step_and_channel_and_a_rerun_adds_nothing(client, db, clock, settings):
    seed(client)
    report = cycle(db, clock, settings)
    assert report.counts["opened"] == 1 and report.counts["plan"] == 1, report.outcomes
    first = messages(db)
    assert {m.channel for m in first} and all(m.status == "queued" for m in first)
    assert all(len(m.invoice_ids) == 3 for m in first)  # every overdue invoice of the case, in one notice
    for _ in range(3):
        again = cycle(db, clock, settings)
        assert again.counts["plan"] == 0
    assert [m.id for m in messages(db)] == [m.id for m in first]


def test_every_plan_is_an_audit_event_with_rule_policy_version_and_band(client, db, clock, settings):
    seed(client)
    cycle(db, clock, settings)
    with db.session() as s:
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "case.step_planned")).scalar_one()
    assert event.data["policy_version"] == 1 and event.data["band"] in ("low", "medium", "high")
    assert event.data["rule"] == "planned" and "policy 'default' v1" in event.data["reason"]


def test_a_payment_that_clears_the_case_closes_it_and_cancels_what_is_queued(client, db, clock, settings):
    seed(client)
    cycle(db, clock, settings)
    assert messages(db, status="queued")
    client.post("/v1/payments/bulk", json={"payments": [payment(amount="1200.00")]})
    report = cycle(db, clock, settings)
    assert report.counts["close"] == 1
    assert {m.status for m in messages(db)} == {"cancelled"}
    with db.session() as s:
        assert s.execute(select(Case.state)).scalar() == "closed"


def test_a_new_overdue_invoice_joins_the_next_notice(client, db, clock, settings):
    seed(client, invoices=1)
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("LATE", due=date(2026, 2, 25), total="80.00")]})
    for _ in range(30):
        clock.advance(days=1)
        cycle(db, clock, settings)
        dispatch(db, clock, settings)
        later = [m for m in messages(db, status="sent") if m.channel == "email"]
        if len(later) >= 2:
            break
    assert "N-LATE" in later[-1].context["invoices"] and "N-I0" in later[-1].context["invoices"]


def test_a_closed_case_reopens_as_a_new_episode(client, db, clock, settings):
    seed(client, invoices=1)
    cycle(db, clock, settings)
    client.post("/v1/payments/bulk", json={"payments": [payment(amount="400.00")]})
    cycle(db, clock, settings)
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("NEXT", due=date(2026, 2, 26))]})
    report = cycle(db, clock, settings)
    assert report.counts["reopened"] == 1 and report.counts["plan"] == 1
    with db.session() as s:
        case = s.execute(select(Case)).scalar_one()
    assert case.episode == 2 and case.state == "active"


def test_the_case_endpoint_shows_state_step_and_next(client, db, clock, settings):
    seed(client)
    cycle(db, clock, settings)
    [case] = client.get("/v1/customers/C1/case").json()
    assert case["state"] == "active" and case["current_step"] is not None
    assert case["next"]["step"] is not None and case["messages"]
    assert client.get("/v1/customers/nobody/case").status_code == 404


def test_dry_run_writes_nothing(client, db, clock, settings):
    seed(client)
    session = db.new_session()
    from dunning.cases.cycle import run_cycle

    report = run_cycle(session, clock, settings)
    session.rollback()
    session.close()
    assert report.planned
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar() == 0
        assert s.execute(select(func.count()).select_from(Case)).scalar() == 0


def test_a_backlog_enters_its_path_by_age_and_the_audit_log_names_the_steps_passed_over(client, db, clock, settings):
    # 275 days late when the service first sees it: the default policy enters by age after 60 days
    seed(client, invoices=1, due=date(2025, 5, 31))
    report = cycle(db, clock, settings)
    assert [(o.action, o.rule) for o in report.outcomes] == [("pass", "entry_by_age"), ("plan", "planned")]
    with db.session() as s:
        passed = s.execute(select(AuditEvent).where(AuditEvent.action == "case.step_passed")).scalar_one()
        case = s.execute(select(Case)).scalar_one()
    # every step but the agency hand-off, which 400.00 EUR reaches the minimum of, whatever the band's path
    assert passed.data["rule"] == "entry_by_age" and "275 days late" in passed.data["reason"]
    assert len(passed.data["passed_over"]) == 6 and "First reminder" in passed.data["passed_over"]
    assert (case.step_key, case.step_name) == ("agency", "Agency hand-off")
    letters = messages(db)
    assert {(m.step_key, m.step_name, m.status) for m in letters} == {
        ("agency", "Agency hand-off", "awaiting_approval")
    }


def test_a_recent_debt_starts_at_the_first_step(client, db, clock, settings):
    seed(client, invoices=1, due=date(2026, 1, 1))  # 60 days late: not more
    report = cycle(db, clock, settings)
    assert "entry_by_age" not in [o.rule for o in report.outcomes]
    assert {m.step_name for m in messages(db)} == {"First reminder"}


def test_only_a_case_left_as_it_was_keeps_a_fingerprint_and_is_skipped_while_nothing_changes(
    client, db, clock, settings
):
    seed(client)
    cycle(db, clock, settings)  # a step planned: the case moved, its next view differs anyway
    with db.session() as s:
        customer_id, fingerprint = s.execute(select(Case.customer_id, Case.fingerprint)).one()
    assert fingerprint is None
    clock.advance(hours=1)
    with db.session() as s:  # the step is pending: the case waits, and keeps what it waited on
        report = run_cycle(s, clock, settings, {customer_id})
    assert report.counts["wait"] == 1
    with db.session() as s:
        assert s.execute(select(Case.fingerprint)).scalar() is not None
    clock.advance(hours=1)
    with db.session() as s:
        again = run_cycle(s, clock, settings, {customer_id})
    assert again.counts["unchanged"] == 1 and again.counts["wait"] == 0
