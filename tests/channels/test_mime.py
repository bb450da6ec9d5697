"""The lean MIME writer, read back by the standard library's parser: what went in comes out."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.channels.contract import Envelope, TransportError
from dunning.channels.email import MailIdentity, compose_bytes
from dunning.channels.mime import HeaderError, header, message

IDENTITY = MailIdentity("collections@example.com", "Société Générale d'Exemple, Recouvrement", "replies.example.com")


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def unix(text: str) -> str:
    return text.replace("\r\n", "\n")


def assert_wire_safe(data: bytes) -> None:
    assert data.isascii(), "every byte 7-bit: no 8BITMIME needed"
    lines = data.split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in lines), "bare CR or LF"
    # Folded at 78 columns wherever a line can be folded: only one unbreakable token (a long
    # URL) may run past it, and nothing near SMTP's 998.
    assert all(len(line) <= 78 or b" " not in line.strip() for line in lines)
    assert max(len(line) for line in lines) < 998


def test_a_french_reminder_with_a_pdf_reads_back_exactly(tmp_path: Path):
    pdf = tmp_path / "relevé.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    text = (
        "Bonjour,\n\nLa facture F-2026-001 (1 200,00 €) est échue.   \n"
        + "x" * 200
        + "\n.\n=3D is not an escape here\n\tindented\nFrom the start of a line\n"
    )
    html = "<p>Montant : <strong>1 200,00 €</strong></p>\n" + "<td>ligne très longue</td>" * 20 + "\n"
    envelope = Envelope(
        message_id=7,
        channel="email",
        recipient="compta@dupont.example",
        subject="Rappel : 3 factures sont arrivées à échéance (1 749,50 €) — merci de régulariser rapidement",
        text=text,
        html=html,
        pdf_path=pdf,
        reply_to="tok-7_x",
        headers={"X-Dunning-Message-Id": "7"},
        metadata={
            "recipient_name": 'Dupont & Fils, SARL "Le Vieux"',
            "attachment_name": "relevé.pdf",
            "unsubscribe_url": "https://dunning.example.com/unsubscribe/" + "a" * 90,
        },
    )
    composed = compose_bytes(envelope, IDENTITY)
    assert_wire_safe(composed.data)
    msg = parse(composed.data)

    assert msg["Subject"] == envelope.subject
    assert msg["To"].addresses[0].display_name == 'Dupont & Fils, SARL "Le Vieux"'
    assert msg["To"].addresses[0].addr_spec == "compta@dupont.example"
    assert msg["From"].addresses[0].display_name == IDENTITY.from_name
    assert msg["Message-ID"] == composed.message_id
    assert msg["Reply-To"] == composed.reply_to == "collections+tok-7_x@replies.example.com"
    assert msg["X-Dunning-Message-Id"] == "7"
    assert " ".join(msg["List-Unsubscribe"].split()) == (
        "<mailto:collections+tok-7_x@replies.example.com?subject=unsubscribe>, "
        f"<{envelope.metadata['unsubscribe_url']}>"
    )
    assert msg.get_content_type() == "multipart/mixed"
    assert unix(msg.get_body(("plain",)).get_content()) == text
    assert unix(msg.get_body(("html",)).get_content()) == html
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "relevé.pdf"
    assert attachment.get_content() == pdf.read_bytes()


def test_text_alone_is_a_single_part():
    data = message([("Subject", "Hello")], "Just text\n")
    msg = parse(data)
    assert msg.get_content_type() == "text/plain" and unix(msg.get_content()) == "Just text\n"
    assert_wire_safe(data)


def test_a_line_break_in_a_header_is_refused():
    with pytest.raises(HeaderError):
        header("Subject", "Hello\r\nBcc: victim@example.com")
    envelope = Envelope(
        message_id=1,
        channel="email",
        recipient="a@example.com",
        subject="x",
        text="y",
        headers={"X-Note": "a\nBcc: b@example.com"},
    )
    with pytest.raises(TransportError) as refused:
        compose_bytes(envelope, IDENTITY)
    assert (refused.value.permanent, refused.value.code) == (True, "bad_header")


line = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=300)


@settings(max_examples=150, deadline=None)
@given(
    subject=line.filter(lambda s: s.strip() == s and "  " not in s),
    text=st.lists(line, max_size=12).map(lambda lines: "\n".join(lines) + "\n"),
    html=st.none() | line.map(lambda s: f"<p>{s}</p>\n"),
)
def test_any_content_survives_the_round_trip(subject, text, html):
    envelope = Envelope(
        message_id=1,
        channel="email",
        recipient="a@example.com",
        subject=subject,
        text=text,
        html=html,
        metadata={"recipient_name": subject[:40]},
    )
    data = compose_bytes(envelope, IDENTITY).data
    assert_wire_safe(data)
    msg = parse(data)
    assert msg["Subject"] == subject
    assert unix(msg.get_body(("plain",)).get_content()) == text
    if html is not None:
        assert unix(msg.get_body(("html",)).get_content()) == html
