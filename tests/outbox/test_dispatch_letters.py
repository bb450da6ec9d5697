"""Letters: rendered to PDF at dispatch time and handed to the file-drop print provider."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from pypdf import PdfReader

from dunning.outbox.service import answer_approval
from tests.builders import customer, invoice
from tests.outbox.support import LEEDS, cycle, dispatch, messages, seed, use_policy

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")

LETTERS = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: r1, after_days: 1, kind: reminder, channels: [letter]}
      - {key: reg, after_days: 3, kind: registered_letter, channels: [letter], fees: true}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""


def pdf_text(path) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(path).pages).split())


def test_a_reminder_letter_then_an_approved_registered_letter(db, clock, settings):
    use_policy(db, clock, LETTERS)
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
        [
            invoice(f"I{i}", "UK1", due=date(2026, 2, 20) + timedelta(days=i), currency="GBP", total="400.00")
            for i in range(3)
        ],
    )
    drop = settings.outbox_dir / "letters"

    assert [o.step_key for o in cycle(db, clock, settings).planned] == ["r1"]
    assert dispatch(db, clock, settings)["sent"] == 1
    [reminder] = messages(db)
    manifest = json.loads((drop / f"{reminder.id}.json").read_text())
    assert manifest["registered"] is False
    assert manifest["recipient"]["lines"] == ["Acme Widgets Ltd", *LEEDS.splitlines()]

    clock.advance(days=1)  # the policy keeps a day between two contacts
    [planned] = cycle(db, clock, settings).planned
    assert planned.step_key == "reg" and planned.requires_approval
    registered = messages(db, step_key="reg")[0]
    assert registered.status == "awaiting_approval"
    assert dispatch(db, clock, settings)["sent"] == 0  # nothing goes out unapproved
    with db.session() as session:
        answer_approval(session, clock, registered.id, approve=True, actor="ops@example.com", note=None)
    assert dispatch(db, clock, settings)["sent"] == 1

    registered = messages(db, id=registered.id)[0]
    assert registered.status == "sent" and registered.provider_id == f"file-letter-{registered.id}"
    manifest = json.loads((drop / f"{registered.id}.json").read_text())
    assert manifest["registered"] is True and manifest["pages"] >= 1
    assert manifest["case_id"] == registered.case_id and manifest["customer_external_id"] == "UK1"
    text = pdf_text(drop / f"{registered.id}.pdf")
    for number in ("N-I0", "N-I1", "N-I2"):
        assert number in text
    due = registered.context["total_minor"] + registered.context["fees_minor"]
    assert registered.context["total_minor"] == 120_000 and registered.context["fees_minor"] > 0  # interest + £70 x 3
    assert f"Total due £{due / 100:,.2f}" in text
    deadline = clock.now().date() + timedelta(days=8)
    assert f"by {deadline.day} {deadline:%B %Y}" in text  # "by 11 March 2026"
    assert "Late payment interest, invoice N-I0" in text
    assert (drop / f"{registered.id}.pdf").read_bytes() == open(registered.pdf_path, "rb").read()
