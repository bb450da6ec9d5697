from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dunning.replies.htmltext import html_to_text
from dunning.replies.intents import classify
from dunning.replies.mail import extract_reply_token, parse_inbound
from dunning.replies.replytext import split_reply

MESSAGES = Path(__file__).parent / "messages"


def load(name: str):
    return parse_inbound((MESSAGES / name).read_bytes())


def understand(mail, lang: str, tz: str = "Europe/Paris"):
    return classify(mail.own_text, lang=lang, received_at=mail.date, tz=tz, channel="email", currency="EUR")


# --------------------------------------------------------------------------- real messages


def test_gmail_reply_keeps_only_the_new_part():
    mail = load("gmail_alternative_en.eml")
    assert (mail.from_name, mail.from_address) == ("John Carter", "john.carter@gmail.com")
    assert mail.to_addresses == ["collections+c-8f3a2@acme.example"]
    assert mail.subject == "Re: Your invoice INV-1001 is overdue"
    assert mail.message_id == "<CAF8kz=Qx7uVw2dJ+Yc1n0pQ@mail.gmail.com>"
    assert mail.in_reply_to == "<reminder-8f3a2-2@acme.example>"
    assert mail.references == ["<reminder-3f1c2a@acme.example>", "<reminder-8f3a2-2@acme.example>"]
    assert mail.date == datetime(2025, 3, 19, 11, 2, 41, tzinfo=UTC)
    # The full text keeps the quote (our own reminder, with its STOP instruction)...
    assert "Reply STOP" in mail.text
    # ...the reply does not: the attribution wrapped over two lines, the "> " lines. The rules read
    # it without the sign-off.
    assert mail.reply_text == "I'll pay on Friday, sorry for the delay.\n\nThanks,\nJohn"
    assert mail.own_text == "I'll pay on Friday, sorry for the delay."
    assert mail.language_hints == ("en",)
    got = understand(mail, "en")
    assert (got.intent, got.promised_date, got.confident) == ("promise_to_pay", date(2025, 3, 21), True)


def test_outlook_french_header_block_and_encoded_subject():
    mail = load("outlook_fr_quoted.eml")
    # Windows-1252 encoded word, with Outlook's no-break space before the colon.
    assert mail.subject == "RE\u00a0: Relance : facture F-2024-0042"
    assert mail.own_text == (
        "Bonjour,\n\nNous contestons la facture F-2024-0042 : la prestation n\u2019a jamais été réalisée."
    )
    assert mail.reply_text.endswith("Service comptabilité – ACME SARL\nTél. : 01 23 45 67 89")  # en dash: cp1252 0x96
    assert "STOP" not in mail.reply_text
    assert mail.language_hints == ("fr",)  # "De :", "Envoyé :", "À :", "Objet :"
    got = understand(mail, "fr")
    assert (got.intent, got.invoice_number) == ("dispute", "F-2024-0042")


def test_outlook_html_is_cut_at_its_reply_header():
    mail = load("outlook_fr_quoted.eml")
    assert mail.html is not None
    assert split_reply(html_to_text(mail.html, mark_quotes=True)).text == mail.reply_text


def test_iphone_latin1_quoted_printable():
    mail = load("iphone_latin1_fr.eml")
    assert mail.from_name == "Renée Lévesque"
    assert mail.subject == "Re\u00a0: Relance échéance dépassée facture F-2024-0042"
    assert mail.reply_text == mail.own_text == "Bonjour,\n\nJe réglerai la facture F-2024-0042 vendredi, 250,50 euros."
    got = understand(mail, "fr")
    assert (got.intent, got.promised_date, got.amount) == ("promise_to_pay", date(2025, 3, 21), Decimal("250.50"))
    assert got.invoice_number == "F-2024-0042"


def test_html_only_message():
    mail = load("apple_html_only_en.eml")
    assert "tracking" not in mail.text and "margin" not in mail.text  # script and style dropped
    assert mail.text.startswith(
        "Hello,\n\nI already paid invoice INV-1001 last week by bank transfer.\nCould you check again?"
    )
    assert mail.own_text == (
        "Hello,\n\nI already paid invoice INV-1001 last week by bank transfer.\nCould you check again?"
    )
    got = understand(mail, "en")
    assert (got.intent, got.invoice_number) == ("already_paid", "INV-1001")


def test_remittance_advice_attachments_and_plus_address():
    mail = load("remittance_pdf_en.eml")
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("avis_de_règlement_mars.pdf", "application/pdf"),  # RFC 2231 filename
        ("relevé.csv", "text/csv"),  # RFC 2047 filename, as Outlook writes them
    ]
    pdf = mail.attachments[0]
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.size == len(pdf.content)
    assert mail.attachments[1].content.decode() == "facture;montant;date\nINV-1001;250,00;2025-03-19\n"
    assert mail.cc_addresses == ["finance@globex.example", "ap+archive@globex.example"]
    assert mail.delivered_to == ["collections+c-8f3a2@acme.example"]
    assert extract_reply_token(mail.recipients, mailbox="collections") == "c-8f3a2"
    assert mail.own_text.endswith("paid today by bank transfer.")
    assert understand(mail, "en").intent == "already_paid"


def test_charset_declared_latin1_but_written_in_windows_1252():
    mail = load("mislabelled_cp1252_fr.eml")
    assert "120 € réclamés" in mail.text and "n\u2019ai" in mail.text
    assert mail.subject == "Re: Votre facture impayée"
    assert mail.own_text == "Bonjour,\n\nJe n\u2019ai jamais reçu la marchandise, je ne paierai pas les 120 € réclamés."
    assert mail.reply_text.endswith("--\nPaul Durand\n06 11 22 33 44")  # the signature stays for a person
    assert understand(mail, "fr").intent == "dispute"


def test_outlook_original_message_separator():
    mail = load("outlook_original_message_en.eml")
    assert mail.from_name == "Smith, Bob"
    assert mail.own_text == "Can we set up a payment plan? I can do 100 a month."
    assert understand(mail, "en", tz="America/Chicago").intent == "installment_request"


# --------------------------------------------------------------------------- reading, piece by piece


def reply(text: str) -> str:
    return split_reply(text).text


def own(text: str) -> str:
    return split_reply(text).own_text


def test_inline_answers_between_quotes_are_kept():
    text = "> Can you pay invoice 42?\nYes, on Friday.\n> And invoice 43?\nThat one I dispute."
    assert reply(text) == "Yes, on Friday.\nThat one I dispute."


def test_signature_delimiter():
    assert reply("I will pay tomorrow.\n-- \nJohn Smith\nACME Ltd") == "I will pay tomorrow.\n--\nJohn Smith\nACME Ltd"
    assert own("I will pay tomorrow.\n-- \nJohn Smith\nACME Ltd") == "I will pay tomorrow."


def test_sign_off_keeps_what_came_before_and_the_message_itself():
    assert own("Hi,\nI paid on Monday.\nBest regards,\nAnna") == "Hi,\nI paid on Monday."
    assert reply("Hi,\nI paid on Monday.\nBest regards,\nAnna") == "Hi,\nI paid on Monday.\nBest regards,\nAnna"
    assert own("Cordialement") == "Cordialement"  # nothing above: that is the message
    assert own("Merci, je paierai vendredi") == "Merci, je paierai vendredi"
    long_tail = "I paid.\nThanks\n" + "\n".join(f"line {i} of a real answer" for i in range(10))
    assert own(long_tail) == long_tail  # not a signature: too much follows
    assert (
        own("Ich zahle am Freitag.\n\nMit freundlichen Grüßen\nMax Muster\nTel. 030 1234567") == "Ich zahle am Freitag."
    )


def test_lines_that_only_look_like_attributions_are_kept():
    text = "On Friday I'll pay.\nLe 15 je paierai le reste."
    assert reply(text) == text
    quoted = "On Friday I'll pay.\nOn Wed, 19 Mar 2025 at 10:15, Acme <c@acme.example>\nwrote:\n> reminder"
    assert reply(quoted) == "On Friday I'll pay."


def test_french_attribution_and_mobile_footer():
    text = "Je paierai lundi.\n\nLe mer. 19 mars 2025 à 10:15, Acme <c@acme.example> a écrit :\n> Relance"
    assert reply(text) == "Je paierai lundi."
    assert reply("Ok pour lundi\n\nEnvoyé de mon iPhone") == "Ok pour lundi"
    assert reply("Done.\n\nSent from my Galaxy\n\n> quoted") == "Done."


def test_html_to_text_breaks_like_a_mail_client():
    html = "<div>Hello<br></div><div>World</div><div><br></div><p>Para</p><ul><li>a</li><li>b</li></ul>x&amp;y&nbsp;&eacute;"
    assert html_to_text(html) == "Hello\nWorld\n\nPara\n\na\nb\nx&y é"


def test_html_quotes_are_marked_like_plain_quotes():
    html = (
        '<div dir="ltr">Already paid</div><div class="gmail_quote">On Wed, 19 Mar 2025 at 10:15, X wrote:'
        "<blockquote>STOP</blockquote></div>"
    )
    assert html_to_text(html, mark_quotes=True) == "Already paid\nOn Wed, 19 Mar 2025 at 10:15, X wrote:\n\n> STOP"
    assert reply(html_to_text(html, mark_quotes=True)) == "Already paid"
    assert "STOP" in html_to_text(html)


# --------------------------------------------------------------------------- odd input


def test_plus_address_token():
    assert extract_reply_token(["Acme <collections+c-8f3a2@acme.example>"]) == "c-8f3a2"
    assert extract_reply_token(["collections@acme.example"]) is None
    # A customer's own plus address comes first; only our mailbox counts.
    customer_first = ["ap+archive@globex.example", "collections+Tk_9.x=@acme.example"]
    assert extract_reply_token(customer_first) == "archive"
    assert extract_reply_token(customer_first, mailbox="Collections") == "Tk_9.x="
    assert extract_reply_token(["collections+bad token@acme.example"]) is None


def test_unknown_charset_and_missing_headers():
    raw = (
        b"From: someone@example.com\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n"
        b"d\xc3\xa9j\xc3\xa0 pay\xc3\xa9\r\n"
    )
    mail = parse_inbound(raw)
    assert mail.text == "déjà payé"
    assert (mail.subject, mail.message_id, mail.to_addresses, mail.date) == ("", None, [], None)


def test_utf8_sent_as_us_ascii_and_true_latin1():
    utf8 = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nJ'ai d\xc3\xa9j\xc3\xa0 pay\xc3\xa9"
    assert parse_inbound(utf8).text == "J'ai déjà payé"
    latin1 = b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nJ'ai d\xe9j\xe0 pay\xe9"
    assert parse_inbound(latin1).text == "J'ai déjà payé"


def test_broken_headers_do_not_lose_the_message():
    raw = (
        b"From: <>\r\nTo: a@b@c, ,, <x@y.example>\r\nSubject: =?utf-8?q?broken\r\nDate: not a date\r\n"
        b"In-Reply-To: no-brackets@x.example\r\nContent-Type: multipart/mixed; boundary=\r\n\r\nI paid"
    )
    mail = parse_inbound(raw)
    assert (mail.from_address, mail.to_addresses, mail.date) == (None, ["x@y.example"], None)
    assert mail.in_reply_to == "<no-brackets@x.example>"
    assert mail.text == mail.reply_text == "I paid"


def test_attachment_only_message_has_no_text():
    raw = (
        b"From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=r.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n--b--\r\n"
    )
    mail = parse_inbound(raw)
    assert (mail.text, mail.reply_text) == ("", "")
    assert [(a.filename, a.content) for a in mail.attachments] == [("r.pdf", b"%PDF-1.4")]


@settings(max_examples=100, deadline=None)
@given(
    st.binary(max_size=400)
    | st.text(max_size=400).map(lambda t: ("Subject: x\r\n\r\n" + t).encode("utf-8", "surrogatepass"))
)
def test_any_bytes_parse_without_raising(raw):
    mail = parse_inbound(raw)
    assert isinstance(mail.reply_text, str) and isinstance(mail.attachments, list)
