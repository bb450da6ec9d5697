"""Statutory fees on real notices: worded in the customer's language in the PDF, a deadline on a
business day, a missing reference rate holding the notice back with one task for the team, and
the agency's case file carrying what the notices claimed."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from dunning.outbox.service import answer_approval
from dunning.policies import rate_store, rates
from dunning.tasks.models import Task
from dunning.tasks.service import open_task
from tests.builders import customer, invoice, payment
from tests.outbox.support import ADDRESS, LEEDS, cycle, dispatch, messages, seed, use_policy

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")

NOTICE = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: notice, after_days: 1, kind: formal_notice, channels: [letter], fees: true}
      - {key: agency, after_days: 3, kind: agency_handoff, channels: [letter]}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""
BERLIN = "Unter den Linden 1\n10117 Berlin\nDeutschland"


def pdf_text(path) -> str:
    # babel separates numbers and units with (narrow) no-break spaces; compare on plain spaces
    text = " ".join(page.extract_text() for page in PdfReader(path).pages)
    return " ".join(text.replace("\u202f", " ").replace("\u00a0", " ").split())


def test_french_and_german_notices_claim_their_fees_in_their_own_language(db, clock, settings):
    use_policy(db, clock, NOTICE)
    seed(
        db,
        clock,
        [
            customer("FR1", name="Dupont SARL", address=ADDRESS),
            customer(
                "DE1",
                name="Müller GmbH",
                language="de",
                country="DE",
                timezone="Europe/Berlin",
                phone="+4915112345678",
                address=BERLIN,
            ),
        ],
        [invoice("F1", "FR1", total="1000.00"), invoice("D1", "DE1", total="1000.00")],
    )  # due 1 February 2026
    assert len(cycle(db, clock, settings).planned) == 2
    assert dispatch(db, clock, settings)["sent"] == 2  # Monday 2 March 2026: 29 days late
    by_customer = {m.context["invoices"][0]: m for m in messages(db)}

    french = pdf_text(by_customer["N-F1"].pdf_path)
    assert (
        "Pénalités de retard, facture N-F1 du 2 février 2026 au 2 mars 2026 : 1 000,00 € × 12,15 % × "
        "29/365 jours = 9,65 € (taux BCE 2,15 % au 1er janvier 2026 + 10 points)"
    ) in french
    assert (
        "Indemnité forfaitaire pour frais de recouvrement, facture N-F1 40,00 € par facture payée en retard "
        "(articles L441-10 et D441-5 du Code de commerce)"
    ) in french
    for english in ("interest", "invoice", "days", "per invoice", "ECB"):
        assert english not in french

    # The letter and its fee lines are German; the law is named because the customer is in Germany.
    german = pdf_text(by_customer["N-D1"].pdf_path)
    assert "Mahnung" in german and "Sehr geehrte Damen und Herren" in german and "Dear" not in german
    assert "in Verzug (§ 286 BGB)" in german and "stehen uns nach § 288 BGB zu" in german
    assert (
        "Verzugszinsen, Rechnung N-D1 2. Februar 2026 bis 2. März 2026: 1.000,00 € × 10,27 % × 29/365 Tage = "
        "8,16 € (Basiszinssatz 1,27 % am 1. Januar 2026 + 9 Prozentpunkte)"
    ) in german
    assert "Verzugspauschale, Rechnung N-D1 40,00 € je verspätet bezahlter Rechnung (§ 288 BGB)" in german
    for english in ("Late payment interest", "Fixed compensation", "per invoice", "points)", "days ="):
        assert english not in german
    assert by_customer["N-D1"].context["fees_minor"] == 816 + 4000
    assert by_customer["N-D1"].context["fees"][0] == {
        "kind": "interest",
        "invoice": "N-D1",
        "amount": "8.16",
        "rate": "10.27",
        "from": "2026-02-02",
        "to": "2026-03-02",
    }


def test_a_part_payment_shows_as_a_new_line_from_the_day_after_it(db, clock, settings):
    use_policy(db, clock, NOTICE)
    seed(db, clock, [customer("FR1", address=ADDRESS)], [invoice("F1", "FR1", total="1000.00")])
    from dunning.ledger import service as ledger_service
    from dunning.ledger.batch import Batch
    from dunning.ledger.schemas import PaymentIn

    with db.session() as session:
        ledger_service.push_payments(
            session,
            clock,
            Batch.of(
                PaymentIn,
                [PaymentIn(**payment("P1", "FR1", "400.00", invoice_external_id="F1", received_on="2026-02-15"))],
            ),
            kind="payment",
        )
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [notice] = messages(db)
    assert [(f["from"], f["to"], f["amount"]) for f in notice.context["fees"] if f["kind"] == "interest"] == [
        ("2026-02-02", "2026-02-15", "4.66"),  # 1,000 € × 12.15 % × 14/365 = 4.660
        ("2026-02-16", "2026-03-02", "3.00"),
    ]  # 600 € × 12.15 % × 15/365 = 2.996
    assert notice.context["fees_minor"] == 466 + 300 + 4000


def test_a_notice_that_needs_a_rate_nobody_added_waits_and_the_team_gets_one_task(db, clock, settings):
    clock.set(datetime(2026, 7, 6, 9, tzinfo=UTC))  # the shipped ECB history stops in February 2026
    use_policy(db, clock, NOTICE)
    seed(
        db,
        clock,
        [customer("FR1", address=ADDRESS), customer("FR2", address=ADDRESS)],
        [invoice("F1", "FR1", due=date(2026, 6, 1)), invoice("F2", "FR2", due=date(2026, 6, 2))],
    )
    assert len(cycle(db, clock, settings).planned) == 2
    counts = dispatch(db, clock, settings)
    assert counts["sent"] == 0 and counts["postponed"] == 2
    waiting = messages(db)
    assert {m.status for m in waiting} == {"queued"}
    assert all("rates add ecb_mro RATE --from 2026-07-01" in m.last_error for m in waiting)
    clock.advance(hours=2)
    assert dispatch(db, clock, settings)["postponed"] == 2  # still waiting, still one task
    with db.session() as session:
        [task] = session.execute(select(Task).where(Task.kind == "rate_missing")).scalars()
        assert (task.key, task.status, task.data) == (
            "rate_missing:ecb_mro:2026-07-01",
            "open",
            {"series": "ecb_mro", "on": "2026-07-01"},
        )
        added = rate_store.add(
            session, clock, series="ecb_mro", percent="2.15", effective_on=date(2026, 7, 1), actor="ops@example.com"
        )
        assert added.tasks_closed == 1 and session.get(Task, task.id).status == "done"
    clock.advance(hours=2)
    assert dispatch(db, clock, settings)["sent"] == 2
    [first, _] = messages(db)
    # June at the rate of 1 January, July at the one just added for 1 July
    assert [(f["to"], f["rate"]) for f in first.context["fees"] if f["kind"] == "interest"] == [
        ("2026-06-30", "12.15"),
        ("2026-07-06", "12.15"),
    ]


@pytest.mark.committed
def test_two_workers_asking_for_the_same_rate_open_one_task(committed_db, clock):
    barrier, ids = threading.Barrier(4), []
    task = rate_store.missing_task(rate_store.gaps(rates.shipped(), date(2026, 7, 6))[0])

    def ask():
        barrier.wait()
        with committed_db.session() as session:
            ids.append(open_task(session, clock, **task).id)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 4 and len(set(ids)) == 1
    with committed_db.session() as session:
        assert session.execute(select(func.count()).select_from(Task)).scalar() == 1


def test_a_deadline_that_falls_on_christmas_moves_to_the_next_business_day(db, clock, settings):
    clock.set(datetime(2025, 12, 17, 10, tzinfo=UTC))  # + 8 days: Thursday 25 December
    use_policy(db, clock, NOTICE)
    seed(
        db,
        clock,
        [
            customer(
                "UK1",
                name="Acme Widgets Ltd",
                language="en",
                country="GB",
                timezone="Europe/London",
                phone="+447911123456",
                address=LEEDS,
            )
        ],
        [invoice("U1", "UK1", due=date(2025, 11, 1), currency="GBP", total="400.00")],
    )
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [notice] = messages(db)
    # 25 and 26 December are bank holidays in England, 27 and 28 a weekend
    assert "no later than 29 December 2025" in pdf_text(notice.pdf_path)


def test_the_agency_case_file_carries_the_fees_the_notice_claimed(db, clock, settings):
    use_policy(db, clock, NOTICE)
    seed(db, clock, [customer("FR1", address=ADDRESS)], [invoice("F1", "FR1", total="1000.00")])
    cycle(db, clock, settings)
    assert dispatch(db, clock, settings)["sent"] == 1
    [notice] = messages(db)
    clock.advance(days=3)
    cycle(db, clock, settings)
    handoff = [m for m in messages(db) if m.step_key == "agency"]
    with db.session() as session:  # approving the step approves its notice and its case file
        answer_approval(session, clock, handoff[0].id, approve=True, actor="ops@example.com", note=None)
    assert dispatch(db, clock, settings)["sent"] >= 1
    [case_file] = [m for m in messages(db) if m.channel == "agency"]
    document = json.loads((settings.outbox_dir / "agency" / f"{case_file.id}.json").read_text())["case_file"]
    assert document["fees_minor"] == notice.context["fees_minor"] == 965 + 4000
    assert document["fees"] == notice.context["fees"] and document["fees_as_of"] == "2026-03-02"
    assert Decimal(document["fees"][0]["amount"]) == Decimal("9.65")
