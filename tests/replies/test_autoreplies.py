"""Out-of-office and other automatic replies (RFC 3834): recognised by their headers or subject, in
the languages of mailwords/, with the return date phrase as written (the intent reader turns it
into the delay of the next contact)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from dunning.replies.autoreplies import return_phrase
from dunning.replies.mail import parse_inbound

MESSAGES = Path(__file__).parent / "messages"


@pytest.mark.parametrize(
    "name, why, text, lang",
    [
        ("autoreply_outlook_en.eml", "Auto-Submitted: auto-generated", "back on 12 January", "en"),
        ("autoreply_gmail_fr.eml", "Auto-Submitted: auto-replied", "de retour le 12 janvier", "fr"),
        ("autoreply_exchange_de.eml", "Auto-Submitted: auto-replied", "ab dem 12. Januar wieder", "de"),
    ],
)
def test_real_out_of_office_notices(name, why, text, lang):
    mail = parse_inbound((MESSAGES / name).read_bytes())
    assert mail.is_autoreply and not mail.is_bounce
    assert (mail.autoreply.why, mail.return_text, mail.autoreply.return_lang) == (why, text, lang)


def message(subject: str, body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "c1@example.com", "collections@example.com", subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"X_Autoreply": "yes"},
        {"X_Autorespond": "Vacation"},
        {"Precedence": "auto_reply"},
    ],
)
def test_headers_that_say_a_robot_answered(headers):
    assert parse_inbound(message("Re: facture", "Je suis absent.", **headers)).is_autoreply


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Invoice INV-1042",
        "Automatic reply: Invoice INV-1042",
        "Réponse automatique : Relance",
        "Absence du bureau",
        "Abwesenheitsnotiz: Zahlungserinnerung",
        "Automatische Antwort: Rechnung",
        "Respuesta automática: factura",
        "Fuori sede",
        "Automatisch antwoord: factuur",
        "Resposta automática",
        "Odpowiedź automatyczna: faktura",
        "Automatiskt svar: faktura",
        "Автоматический ответ: счёт",
    ],
)
def test_out_of_office_subjects(subject):
    assert parse_inbound(message(subject, "...")).is_autoreply


def test_a_person_writing_about_an_absence_is_not_a_robot():
    mail = parse_inbound(
        message(
            "Re: Invoice INV-1042", "I'm away until Monday, I'll pay when I'm back on 12 January.", Auto_Submitted="no"
        )
    )
    assert not mail.is_autoreply and mail.return_text is None


@pytest.mark.parametrize(
    "text, phrase, lang",
    [
        ("I am out of the office until Friday 9 January. I will be back on 12 January.", "back on 12 January", "en"),
        ("I'm currently away, returning to the office on May 5th.", "returning to the office on May 5th", "en"),
        ("Back Monday 12th January.", "Back Monday 12th January", "en"),
        ("Je suis absente jusqu'au 9 janvier inclus.", "absente jusqu'au 9 janvier", "fr"),
        ("Bureau fermé jusqu'au 9 janvier.", "jusqu'au 9 janvier", "fr"),
        ("Je serai de retour le lundi 12 janvier 2026.", "de retour le lundi 12 janvier 2026", "fr"),
        ("Ich bin ab dem 12. Januar wieder im Büro.", "ab dem 12. Januar wieder", "de"),
        ("Ich bin bis zum 9. Januar nicht erreichbar.", "bis zum 9. Januar", "de"),
        ("Estaré de vuelta el 12 de enero.", "de vuelta el 12 de enero", "es"),
        ("Sarò di ritorno il 12 gennaio.", "di ritorno il 12 gennaio", "it"),
        ("Ik ben terug op 12 januari.", "terug op 12 januari", "nl"),
        ("Estarei de volta no dia 12 de janeiro.", "de volta no dia 12 de janeiro", "pt"),
        ("Wracam 12 stycznia.", "Wracam 12 stycznia", "pl"),
        ("Jag är tillbaka den 12 januari.", "tillbaka den 12 januari", "sv"),
        ("Вернусь 12 января.", "Вернусь 12 января", "ru"),
        ("Back soon, sorry.", None, None),
    ],
)
def test_return_phrases(text, phrase, lang):
    assert return_phrase(text) == (phrase, lang)
