"""Twilio's webhooks: signed the way Twilio signs them (twilio's RequestValidator.compute_signature,
over the public URL), anything else refused with 403 and nothing stored; delivery reports."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from sqlalchemy import func, select

from dunning.contacts.models import Contact
from dunning.outbox.models import Message
from dunning.records.arrangements import Promise
from dunning.records.replies import InboundMessage
from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import PUBLIC_URL, SMS_PATH, STATUS_PATH, seed, sign, sms_form, text_in, the_case


def stored(db) -> tuple[int, int]:
    with db.session() as s:
        return (
            s.execute(select(func.count()).select_from(InboundMessage)).scalar(),
            s.execute(select(func.count()).select_from(Promise)).scalar(),
        )


@pytest.fixture
def seeded(client, db, clock, settings):
    seed(client, first="sms")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)


def test_a_signed_request_is_accepted(anonymous, db, seeded):
    assert text_in(anonymous, "je paierai vendredi").status_code == 200
    assert stored(db) == (1, 1)


@pytest.mark.parametrize("tamper", ["no_signature", "body", "added_field", "url", "request_url", "other_token"])
def test_a_tampered_or_unsigned_request_is_refused_and_nothing_is_stored(anonymous, db, seeded, tamper):
    form = sms_form("je paierai vendredi")
    url = PUBLIC_URL + SMS_PATH
    headers = {"X-Twilio-Signature": sign(form, url)}
    if tamper == "no_signature":
        headers = {}
    elif tamper == "body":
        form = {**form, "Body": "STOP"}
    elif tamper == "added_field":
        form = {**form, "MediaUrl0": "https://evil.example/x.jpg"}
    elif tamper == "url":
        headers = {"X-Twilio-Signature": sign(form, "https://other.example.com" + SMS_PATH)}
    elif tamper == "request_url":  # what request.url would be behind the proxy: not what Twilio called
        headers = {"X-Twilio-Signature": sign(form, "http://testserver" + SMS_PATH)}
    elif tamper == "other_token":
        headers = {"X-Twilio-Signature": sign(form, url, token="another-accounts-token")}
    r = anonymous.post(SMS_PATH, data=form, headers=headers)
    assert r.status_code == 403, r.text
    assert stored(db) == (0, 0)
    assert the_case(db).state == "active"


def test_the_query_string_is_part_of_what_is_signed(anonymous, db, seeded):
    form = sms_form("je paierai vendredi")
    signed = {"X-Twilio-Signature": sign(form, PUBLIC_URL + SMS_PATH + "?tenant=acme")}
    assert anonymous.post(SMS_PATH + "?tenant=acme", data=form, headers=signed).status_code == 200
    assert (
        anonymous.post(
            SMS_PATH + "?tenant=other", data={**form, "MessageSid": "SM" + "b" * 32}, headers=signed
        ).status_code
        == 403
    )
    assert stored(db) == (1, 1)


def test_without_an_auth_token_nothing_can_be_checked_so_everything_is_refused(app, anonymous, db, seeded):
    app.state.settings = app.state.settings.model_copy(update={"twilio_auth_token": None})
    assert text_in(anonymous, "je paierai vendredi").status_code == 403
    assert stored(db) == (0, 0)


def test_a_shared_key_signature_with_sha256_is_checked_with_the_webhook_key(app, anonymous, db, seeded):
    app.state.settings = app.state.settings.model_copy(update={"twilio_webhook_key": "shared-key-secret"})
    form = sms_form("je paierai vendredi")
    url = PUBLIC_URL + SMS_PATH
    payload = url + "".join(k + form[k] for k in sorted(form))
    signature = base64.b64encode(hmac.new(b"shared-key-secret", payload.encode(), hashlib.sha256).digest()).decode()
    settings_header = {"X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}
    r = anonymous.post(SMS_PATH, data=form, headers={"X-Twilio-Signature": signature, **settings_header})
    assert r.status_code == 200
    # the auth-token signature does not pass for a request that says it is signed with the shared key
    r = anonymous.post(
        SMS_PATH,
        data={**form, "MessageSid": "SM" + "c" * 32},
        headers={"X-Twilio-Signature": sign(form, url), **settings_header},
    )
    assert r.status_code == 403
    assert stored(db) == (1, 1)


def status(anonymous, sid: str, state: str, **extra: str):
    form = {"MessageSid": sid, "MessageStatus": state, "AccountSid": "AC" + "1" * 32, **extra}
    return anonymous.post(STATUS_PATH, data=form, headers={"X-Twilio-Signature": sign(form, PUBLIC_URL + STATUS_PATH)})


def test_delivery_reports_update_the_message_and_never_go_backwards(anonymous, db, seeded):
    [sms] = messages(db)
    assert status(anonymous, sms.provider_id, "sent").status_code == 204
    assert status(anonymous, sms.provider_id, "delivered").status_code == 204
    assert status(anonymous, sms.provider_id, "sent").status_code == 204  # late, out of order
    [sms] = messages(db)
    assert sms.delivery_status == "delivered" and sms.status == "sent"
    assert status(anonymous, "SM" + "f" * 32, "delivered").status_code == 204  # not ours: acknowledged, ignored


def test_a_bad_signature_on_a_delivery_report_changes_nothing(anonymous, db, seeded):
    [sms] = messages(db)
    form = {"MessageSid": sms.provider_id, "MessageStatus": "undelivered", "ErrorCode": "30005"}
    r = anonymous.post(
        STATUS_PATH,
        data=form,
        headers={"X-Twilio-Signature": sign({**form, "ErrorCode": "1"}, PUBLIC_URL + STATUS_PATH)},
    )
    assert r.status_code == 403
    [sms] = messages(db)
    assert sms.delivery_status is None


def test_an_unknown_destination_marks_the_number_invalid(anonymous, db, seeded):
    [sms] = messages(db)
    status(anonymous, sms.provider_id, "undelivered", ErrorCode="30005")
    with db.session() as s:
        contact = s.execute(select(Contact).where(Contact.customer_id == sms.customer_id)).scalar_one()
        assert s.get(Message, sms.id).delivery_status == "undelivered"
    assert contact.invalid_channels == ["sms"] and contact.external_id == "primary"
    assert tasks(db, kind="contact_invalid")
