from __future__ import annotations

from datetime import date

from sqlalchemy import select

from dunning.audit import AuditEvent
from dunning.contacts import opt_out
from dunning.tasks.models import Task
from tests.builders import customer, invoice
from tests.outbox.support import cycle, dispatch, messages

ONE_STEP = """
name: default
bands: [{name: only}]
paths:
  only:
    steps:
      - {key: r1, after_days: 1, kind: reminder, channels: [email, sms]}
      - {key: r2, after_days: 20, kind: reminder, channels: [email]}
contact: {business_days_only: false, min_days_between_contacts: 1}
"""


def test_a_step_whose_messages_all_stay_unsent_is_planned_again_not_lost(client, db, clock, settings):
    client.put("/v1/policies/default", content=ONE_STEP, headers={"Content-Type": "application/yaml"})
    client.post("/v1/customers/bulk", json={"customers": [customer("C1")]})
    client.post("/v1/invoices/bulk", json={"invoices": [invoice("I1", due=date(2026, 2, 20))]})
    cycle(db, clock, settings)
    assert sorted(m.channel for m in messages(db)) == ["email", "sms"]
    with db.session() as s:  # the customer says STOP on both channels before anything leaves
        for channel in ("email", "sms"):
            opt_out(s, clock, messages(db)[0].customer_id, channel, "portal")
    dispatch(db, clock, settings)
    assert {m.status for m in messages(db)} == {"cancelled"}
    with db.session() as s:
        assert s.execute(select(AuditEvent).where(AuditEvent.action == "case.step_rewound")).first() is not None
    report = cycle(db, clock, settings)
    planned = [o for o in report.outcomes if o.action == "plan"]
    assert [(o.step_key, o.kind) for o in planned] == [("r1", "call_task")]  # r1 again, by phone: not r2
    with db.session() as s:
        assert s.execute(select(Task.kind).where(Task.kind == "call")).scalar_one() == "call"
