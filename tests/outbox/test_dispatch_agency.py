"""The agency hand-off: approved, signed, received by a webhook on loopback; the case escalates."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import pytest

from dunning.cases.models import Case
from dunning.channels.agency import SIGNATURE_HEADER, verify
from dunning.outbox.models import Message
from dunning.outbox.service import answer_approval
from tests.builders import customer, invoice
from tests.fakes import LoopbackHTTPServer, Recorded, Reply
from tests.outbox.support import ADDRESS, cycle, dispatch, messages, outbox_settings, seed, use_policy

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")

SECRET = "shared-with-the-agency"
HANDOFF = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: agency, after_days: 1, kind: agency_handoff, channels: [letter]}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""


def agency_intake(request: Recorded) -> Reply:
    """What a careful agency does: refuse anything whose signature does not match."""
    if not verify(request.body, SECRET, request.headers.get(SIGNATURE_HEADER)):
        return Reply(401, b'{"error": "bad signature"}')
    return Reply(201, json.dumps({"id": f"AG-{json.loads(request.body)['message_id']}"}).encode())


@pytest.fixture
def agency():
    with LoopbackHTTPServer(agency_intake) as server:
        yield server


def plan_handoff(db, clock, settings) -> tuple[Message, Message, Message]:
    use_policy(db, clock, HANDOFF)
    seed(
        db,
        clock,
        [customer("C1", address=ADDRESS)],
        [invoice(f"I{i}", due=date(2026, 2, 20) + timedelta(days=i), total="500.00") for i in range(2)],
    )
    [planned] = cycle(db, clock, settings).planned
    assert planned.channels == ("letter",) and planned.requires_approval
    notice, case_file = messages(db)
    assert (notice.channel, case_file.channel) == ("letter", "agency")
    assert {notice.status, case_file.status} == {"awaiting_approval"}
    with db.session() as session:  # something else queued for the case, due later
        later = Message(
            dedupe_key="manual:1",
            case_id=case_file.case_id,
            customer_id=case_file.customer_id,
            currency="EUR",
            channel="email",
            kind="reminder",
            template="reminder",
            status="queued",
            send_after=clock.now() + timedelta(days=2),
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(later)
    return notice, case_file, messages(db, dedupe_key="manual:1")[0]


def test_an_approved_handoff_is_received_signed_and_escalates_the_case(db, clock, settings, agency):
    settings = outbox_settings(settings, agency_webhook_url=agency.url + "/intake", agency_webhook_secret=SECRET)
    notice, case_file, later = plan_handoff(db, clock, settings)
    assert dispatch(db, clock, settings)["sent"] == 0 and not agency.requests

    with db.session() as session:
        decided = answer_approval(session, clock, case_file.id, approve=True, actor="ops@example.com", note="go")
    assert {m.id for m in decided} == {notice.id, case_file.id}  # one decision for the whole step
    counts = dispatch(db, clock, settings)

    assert counts["sent"] == 2
    [request] = agency.requests
    assert request.path == "/intake" and request.headers["Idempotency-Key"] == f"dunning-message-{case_file.id}"
    document = json.loads(request.body)
    assert [i["number"] for i in document["case_file"]["invoices"]] == ["N-I0", "N-I1"]
    assert document["case_file"]["total_minor"] == 100_000
    [pdf] = document["documents"]
    assert base64.b64decode(pdf["content_base64"]).startswith(b"%PDF")

    by_id = {m.id: m for m in messages(db)}
    assert by_id[case_file.id].status == "sent" and by_id[case_file.id].provider_id == f"AG-{case_file.id}"
    # The customer's notice of the hand-off is part of it: it goes, after the agency has the file.
    # Prepared first (lower id), it was held back once, then released by the agency's receipt.
    assert by_id[notice.id].status == "sent" and counts["postponed"] == 1
    assert by_id[later.id].status == "cancelled"
    assert by_id[later.id].last_error == "the case went to the collection agency"
    with db.session() as session:
        assert session.get(Case, case_file.case_id).state == "escalated"


def test_a_refused_signature_fails_and_the_case_stays(db, clock, settings, agency):
    settings = outbox_settings(settings, agency_webhook_url=agency.url + "/intake", agency_webhook_secret="wrong")
    notice, case_file, later = plan_handoff(db, clock, settings)
    with db.session() as session:
        answer_approval(session, clock, case_file.id, approve=True, actor="ops@example.com", note=None)
    counts = dispatch(db, clock, settings)
    assert counts["failed"] == 1 and counts["sent"] == 0
    assert messages(db, id=case_file.id)[0].last_error.startswith("401")
    # The customer is not told about a hand-off that did not happen.
    clock.advance(hours=1)
    dispatch(db, clock, settings)
    notice = messages(db, id=notice.id)[0]
    assert notice.status == "cancelled" and "did not reach the agency (failed)" in notice.last_error
    assert messages(db, id=later.id)[0].status == "queued"
    with db.session() as session:
        assert session.get(Case, case_file.case_id).state == "active"
