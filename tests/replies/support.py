"""Shared by the reply and arrangement tests: a small policy, seeding through the API, signed
webhook calls made the way Twilio and the inbound-mail provider make them, and the loop."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta

from sqlalchemy import select
from twilio.request_validator import RequestValidator

from dunning.arrangements.jobs import run_once
from dunning.cases.models import Case
from tests.builders import customer, invoice
from tests.outbox.support import cycle, dispatch

SID = "AC" + "1" * 32
TOKEN = "fake-auth-token"
OUR_NUMBER = "+33700000000"
PHONE = "+33612345678"
PUBLIC_URL = "https://dunning.example.com"
EMAIL_SECRET = "inbound-mail-secret"
SMS_PATH = "/v1/inbound/twilio/sms"
STATUS_PATH = "/v1/inbound/twilio/status"


def policy(first: str = "sms", *, max_broken: int = 2) -> str:
    """One band, one path: r1 on the given channel, two more reminders, then the formal steps.
    No business-day rule and a short spacing, so days in the tests are plain calendar days."""
    return f"""name: default
bands: [{{name: low}}]
paths:
  low:
    steps:
      - {{key: r1, after_days: 1, kind: reminder, channels: [{first}]}}
      - {{key: r2, after_days: 14, kind: reminder, channels: [{first}]}}
      - {{key: r3, after_days: 21, kind: reminder, channels: [email]}}
      - {{key: notice, after_days: 30, kind: formal_notice, channels: [email]}}
      - {{key: registered, after_days: 60, kind: registered_letter, channels: [letter]}}
contact:
  window: {{start: "08:00", end: "20:00"}}
  business_days_only: false
  min_days_between_contacts: 1
  max_contacts_per_7_days: 7
promises: {{grace_days: 2, max_broken: {max_broken}}}
plans:
  max_installments: 4
  min_installment_amount: {{EUR: "50.00"}}
  max_months: 3
  reminder_days_before: 3
  grace_days: 5
"""


def seed(
    client,
    *,
    first: str = "sms",
    total: str = "400.00",
    due: date = date(2026, 2, 20),
    invoices: int = 1,
    max_broken: int = 2,
    **customer_fields,
) -> None:
    r = client.put(
        "/v1/policies/default",
        content=policy(first, max_broken=max_broken),
        headers={"Content-Type": "application/yaml"},
    )
    assert r.status_code == 200, r.text
    r = client.post("/v1/customers/bulk", json={"customers": [customer("C1", **customer_fields)]})
    assert r.status_code == 200, r.text
    r = client.post(
        "/v1/invoices/bulk",
        json={"invoices": [invoice(f"I{i + 1}", due=due + timedelta(days=i), total=total) for i in range(invoices)]},
    )
    assert r.status_code == 200, r.text


def twilio_settings(settings, fake_url: str):
    return settings.model_copy(
        update=dict(
            public_url=PUBLIC_URL,
            twilio_account_sid=SID,
            twilio_auth_token=TOKEN,
            twilio_from_number=OUR_NUMBER,
            twilio_api_base=fake_url,
            http_timeout_seconds=5,
            inbound_email_secret=EMAIL_SECRET,
        )
    )


def sign(params: dict[str, str], url: str, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def sms_form(body: str, sid: str = "SM" + "a" * 32, sender: str = PHONE) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": SID,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }


_sids = iter(range(10**6))


def text_in(client, body: str, *, sender: str = PHONE, sid: str | None = None):
    """POST an incoming SMS the way Twilio does: form-encoded, signed for the public URL."""
    form = sms_form(body, sid or f"SM{next(_sids):032d}", sender)
    return client.post(SMS_PATH, data=form, headers={"X-Twilio-Signature": sign(form, PUBLIC_URL + SMS_PATH)})


def mail_in(client, raw: bytes, secret: str = EMAIL_SECRET):
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(
        "/v1/inbound/email", content=raw, headers={"Content-Type": "message/rfc822", "X-Dunning-Signature": signature}
    )


def day(db, clock, settings, days: float = 1) -> None:
    """Time passes: what the scheduler would do meanwhile (the job, the cycle, dispatch)."""
    clock.advance(days=days)
    run_once(db, clock, settings)
    cycle(db, clock, settings)
    dispatch(db, clock, settings)


def the_case(db) -> Case:
    with db.session() as s:
        return s.execute(select(Case)).scalar_one()
