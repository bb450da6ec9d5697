"""Issue 11, mail findings: what a sender puts in a message never gets a 500. Deep MIME nesting is
refused before the recursive parser runs (the message goes to a person, read for its headers),
and header text is cleaned and bounded to what the tables can store (PostgreSQL refuses NUL
characters and enforces VARCHAR lengths; SQLite does neither, so these matter most there)."""

from __future__ import annotations

import time

from sqlalchemy import select

from dunning.audit import AuditEvent
from dunning.records.replies import InboundMessage
from dunning.replies.mail import MAX_CONTAINERS, parse_inbound, too_complex
from tests.outbox.support import tasks
from tests.replies.support import mail_in, seed, text_in


def nested_rfc822(depth: int) -> bytes:
    head = (
        b"From: c1@example.com\r\nTo: collections@example.com\r\nSubject: Re: facture\r\n"
        b"Message-ID: <deep-rfc822@customer.example>\r\n"
    )
    inner = b"Content-Type: message/rfc822\r\n\r\n" * depth
    return head + inner + b"Content-Type: text/plain\r\n\r\nJe paierai vendredi.\r\n"


def nested_multipart(depth: int) -> bytes:
    out = [b"From: c1@example.com\r\nSubject: Re: facture\r\nMessage-ID: <deep-multipart@customer.example>\r\n"]
    for i in range(depth):
        out.append(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode())
    out.append(b"Content-Type: text/plain\r\n\r\nJe paierai vendredi.\r\n")
    out += [f"--b{i}--\r\n".encode() for i in reversed(range(depth))]
    return b"".join(out)


def stored(db) -> list[InboundMessage]:
    with db.session() as s:
        return list(s.execute(select(InboundMessage).order_by(InboundMessage.id)).scalars())


def test_deep_nesting_is_refused_before_parsing_and_in_bounded_time():
    for raw in (nested_rfc822(2_000), nested_multipart(3_000)):
        started = time.perf_counter()
        mail = parse_inbound(raw)  # the standard parser alone raises RecursionError on both
        assert time.perf_counter() - started < 2
        assert mail.unreadable and str(MAX_CONTAINERS) in mail.unreadable
        assert (mail.from_address, mail.subject) == ("c1@example.com", "Re: facture")
        assert mail.reply_text == "" and "not read" in mail.text


def test_nesting_within_the_bound_is_read():
    assert too_complex(nested_multipart(MAX_CONTAINERS - 1)) is None
    assert parse_inbound(nested_multipart(MAX_CONTAINERS - 1)).reply_text == "Je paierai vendredi."
    assert parse_inbound(nested_rfc822(40)).unreadable is None


def test_deeply_nested_mail_through_the_webhook_goes_to_a_person(client, anonymous, db):
    seed(client, first="email")
    for raw in (nested_rfc822(2_000), nested_multipart(3_000)):
        r = mail_in(anonymous, raw)
        assert r.status_code == 200, r.text
        assert r.json()["action"] == "task" and r.json()["promise_id"] is None
    rows = stored(db)
    assert len(rows) == 2 and all("not read" in row.raw_text for row in rows)
    assert len(tasks(db, kind="reply")) == 2


def test_nul_characters_in_mail_headers_are_dropped_not_a_500(client, anonymous, db):
    seed(client, first="email")
    raw = (
        b"From: c1@exam\x00ple.com\r\nTo: collections@example.com\r\nSubject: Re: fac\x00ture\r\n"
        b"Message-ID: <nul\x00id@customer.example>\r\nIn-Reply-To: <ours\x00@acme.example>\r\n"
        b"References: <a\x00b@acme.example> <c@acme.example>\r\n"
        b"Content-Type: text/plain\r\n\r\nJe paierai vendredi.\r\n"
    )
    r = mail_in(anonymous, raw)
    assert r.status_code == 200, r.text
    mail = parse_inbound(raw)
    assert (mail.from_address, mail.message_id, mail.in_reply_to) == (
        "c1@example.com",
        "<nulid@customer.example>",
        "<ours@acme.example>",
    )
    assert mail.subject == "Re: facture" and "\x00" not in "".join(mail.references)
    row = stored(db)[0]
    assert row.sender == "c1@example.com" and row.dedupe_key == "email:<nulid@customer.example>"
    assert mail_in(anonymous, raw).json()["duplicate"] is True  # the cleaned id still deduplicates


def test_a_sender_longer_than_an_audit_subject_is_bounded(client, anonymous, db):
    seed(client, first="email")
    long_but_valid = "a" * 64 + "@" + ".".join(["sub" + "d" * 40] * 4) + ".example"  # 243 characters
    too_long = "b" * 64 + "@" + "e" * 300 + ".example"
    for i, sender in enumerate((long_but_valid, too_long)):
        raw = (
            f"From: {sender}\r\nSubject: hello\r\nMessage-ID: <long{i}@x.example>\r\n"
            "Content-Type: text/plain\r\n\r\nWho are you?\r\n"
        ).encode()
        r = mail_in(anonymous, raw)
        assert r.status_code == 200, r.text
        assert r.json()["matched_by"] == "none"
    rows = stored(db)
    assert rows[0].sender == long_but_valid
    assert rows[1].sender == "(no sender)"  # longer than an address can be (RFC 5321: 254)
    with db.session() as s:
        subjects = list(
            s.execute(
                select(AuditEvent.subject_id).where(AuditEvent.action == "reply.received").order_by(AuditEvent.id)
            ).scalars()
        )
    assert subjects[0] == long_but_valid[:200] and all(len(x) <= 200 for x in subjects)


def test_nul_in_a_signed_sms_is_dropped_not_a_500(client, anonymous, db):
    seed(client, first="sms")
    r = text_in(anonymous, "je paie\x00rai vendredi", sid="SM" + "0" * 15 + "\x00" + "1" * 16)
    assert r.status_code == 200, r.text
    r = text_in(anonymous, "STOP", sender="+33612345678\x00")
    assert r.status_code == 200, r.text
    rows = stored(db)
    assert rows[0].reply_text == "je paierai vendredi" and "\x00" not in rows[0].dedupe_key
    assert rows[1].sender == "+33612345678" and rows[1].customer_id is not None and rows[1].action == "opted_out"
