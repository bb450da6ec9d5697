"""The inbound email webhook: its two ways in (HMAC signature, API key), attachments kept and listed,
STOP and HELP by email, senders we cannot place."""

from __future__ import annotations

import hashlib
import hmac
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import func, select

from dunning.contacts import OptOut
from dunning.contacts.models import ContactOptOut
from dunning.records.replies import InboundMessage
from tests.conftest import make_client, new_key
from tests.outbox.support import cycle, dispatch, messages, tasks
from tests.replies.support import EMAIL_SECRET, day, mail_in, seed, the_case

MESSAGES = Path(__file__).parent / "messages"


def mail(
    text: str, sender: str = "c1@example.com", message_id: str = "<m1@customer.example>", in_reply_to: str | None = None
) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = (
        sender,
        "collections@example.com",
        "Re: facture",
        message_id,
    )
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    msg.set_content(text)
    return msg.as_bytes()


def count(db) -> int:
    with db.session() as s:
        return s.execute(select(func.count()).select_from(InboundMessage)).scalar()


def test_a_bad_signature_is_refused_and_nothing_is_stored(client, anonymous, db, clock, settings):
    seed(client, first="email")
    raw = mail("STOP")
    assert mail_in(anonymous, raw, secret="not-the-secret").status_code == 403
    good = "sha256=" + hmac.new(EMAIL_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    tampered = anonymous.post(
        "/v1/inbound/email", content=raw.replace(b"STOP", b"HELP"), headers={"X-Dunning-Signature": good}
    )
    assert tampered.status_code == 403
    signed_for_other_body = mail_in(anonymous, mail("STOP", message_id="<other@x>"))  # valid, for its own body
    assert signed_for_other_body.status_code == 200
    forged = anonymous.post("/v1/inbound/email", content=raw, headers={"X-Dunning-Signature": "sha256=" + "0" * 64})
    assert forged.status_code == 403
    assert anonymous.post("/v1/inbound/email", content=raw).status_code == 401  # neither a signature nor a key
    assert count(db) == 1
    with db.session() as s:
        assert len(s.execute(select(ContactOptOut)).all()) == 1 and s.execute(select(OptOut)).first() is None


def test_an_api_key_with_the_ingest_scope_may_post_instead_of_a_signature(app, client, db, clock, settings):
    seed(client, first="email")
    with make_client(app, new_key(db, clock, ["ingest"], "mailer")) as mailer:
        r = mailer.post("/v1/inbound/email", content=mail("Je paierai vendredi."))
    # Matched by the sender's address alone: read and handed to a person, never acted on (trust.py).
    assert r.status_code == 200 and r.json()["matched_by"] == "sender"
    assert (r.json()["action"], r.json()["trusted"]) == ("task", False)
    with make_client(app, new_key(db, clock, ["read"], "reader")) as reader:
        assert reader.post("/v1/inbound/email", content=mail("STOP", message_id="<m2@x>")).status_code == 403
    assert count(db) == 1


def test_without_a_secret_configured_signatures_are_refused(app, anonymous, client, db, clock, settings):
    seed(client, first="email")
    app.state.settings = app.state.settings.model_copy(update={"inbound_email_secret": None})
    r = mail_in(anonymous, mail("STOP"))
    assert r.status_code == 403 and "not configured" in r.json()["message"]
    assert count(db) == 0


def test_remittance_advice_is_kept_and_listed_on_the_task(client, anonymous, db, clock, settings):
    seed(client, first="email", email="ap@globex.example", language="en")
    cycle(db, clock, settings)
    r = mail_in(anonymous, (MESSAGES / "remittance_pdf_en.eml").read_bytes())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["matched_by"] == "sender" and body["intent"] == "already_paid" and body["attachments"] == 2
    with db.session() as s:
        row = s.get(InboundMessage, body["id"])
    files = [Path(a["path"]) for a in row.attachments]
    assert [f.parent for f in files] == [settings.var_dir / "inbound" / str(row.id)] * 2
    assert files[0].read_bytes().startswith(b"%PDF") and files[0].name == "1-avis_de_r_glement_mars.pdf"
    assert [a["filename"] for a in row.attachments] == ["avis_de_règlement_mars.pdf", "relevé.csv"]
    [task] = tasks(db, kind="reply")
    assert task.id == row.task_id and "avis_de_règlement_mars.pdf" in task.detail and str(files[1]) in task.detail
    assert [a["path"] for a in task.data["attachments"]] == [str(f) for f in files]
    assert the_case(db).state == "active"  # 0.9: a person checks; nothing paused on a guess


def test_stop_by_email_is_confirmed_once_by_email_and_then_email_goes_quiet(client, anonymous, db, clock, settings):
    seed(client, first="email")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    assert mail_in(anonymous, mail("STOP")).json()["action"] == "opted_out"
    assert mail_in(anonymous, mail("stop", message_id="<m2@x>")).json()["action"] == "already_opted_out"
    dispatch(db, clock, settings)
    [confirmation] = messages(db, template="opt_out_confirmation")
    assert confirmation.status == "sent" and confirmation.channel == "email"
    for _ in range(14):
        day(db, clock, settings)
    after = [m for m in messages(db) if m.channel == "email" and m.status == "sent"]
    assert [m.template for m in after] == ["reminder", "opt_out_confirmation"]


def test_help_by_email_is_answered_by_email(client, anonymous, db, clock, settings):
    seed(client, first="email")
    cycle(db, clock, settings)
    dispatch(db, clock, settings)
    [reminder] = messages(db)
    assert mail_in(anonymous, mail("Aide")).json()["action"] == "task"  # the sender's address alone does not act
    assert (
        mail_in(anonymous, mail("Aide", message_id="<m2@x>", in_reply_to=reminder.provider_id)).json()["action"]
        == "help_sent"
    )
    dispatch(db, clock, settings)
    [help_mail] = messages(db, template="help")
    assert help_mail.status == "sent" and "+44 20 7946 0000" in help_mail.body_text


def test_a_sender_we_cannot_place_is_a_task_and_gets_no_answer(client, anonymous, db, clock, settings):
    seed(client, first="email")
    body = mail_in(anonymous, mail("I will pay on Friday", sender="someone@elsewhere.example")).json()
    assert body["matched_by"] == "none" and body["action"] == "unknown_sender" and body["answer_message_id"] is None
    [task] = tasks(db, kind="unknown_sender")
    assert "someone@elsewhere.example" in task.title
