"""Reply text on the cases written for this project (fixtures/reply_cases.yaml, messages/*.eml):
every shape of reply the published reply parsers test, in the languages of mailwords/."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from dunning.replies.htmltext import html_to_text
from dunning.replies.mail import decode_text, parse_inbound
from dunning.replies.replytext import split_reply

HERE = Path(__file__).parent
CASES = yaml.safe_load((HERE / "fixtures" / "reply_cases.yaml").read_text(encoding="utf-8"))


def raw(case: dict) -> bytes:
    if "eml" in case:
        return (HERE / "messages" / case["eml"]).read_bytes()
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "customer@example.com", "collections@acme.example", "Re: INV-1042"
    if "text" in case:
        msg.set_content(case["text"])
    else:
        msg.set_content(case["html"], subtype="html")
    return msg.as_bytes()


def expected(case: dict, key: str) -> str | None:
    value = case.get(key)
    return value.strip() if isinstance(value, str) else value


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_reply_text(case):
    mail = parse_inbound(raw(case))
    assert mail.reply_text == expected(case, "reply")
    assert mail.own_text == expected(case, "own" if "own" in case else "reply")
    assert mail.forwarded == expected(case, "forwarded")
    if "languages" in case:
        assert list(mail.language_hints) == case["languages"]


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.get("html_reads_the_same")],
    ids=[c["name"] for c in CASES if c.get("html_reads_the_same")],
)
def test_the_html_part_reads_like_the_plain_part(case):
    mail = parse_inbound(raw(case))
    msg = __import__("email").message_from_bytes(raw(case), policy=__import__("email.policy").policy.default)
    html = decode_text(msg.get_body(preferencelist=("html",)))
    assert split_reply(html_to_text(html, mark_quotes=True), forward=mail.forwarded is not None).text == mail.reply_text


def test_the_cases_cover_every_client_and_language(capsys):
    names = {c["name"] for c in CASES}
    assert len(names) == len(CASES)
    languages = {lang for c in CASES for lang in c.get("languages", [])}
    assert {"en", "fr", "de", "es", "it", "nl", "pt", "pl", "ru"} <= languages
    assert any("swedish" in n for n in names)  # Swedish shares its attribution with Danish: no hint
    messages = sorted({c["eml"] for c in CASES if "eml" in c})
    with capsys.disabled():
        print(f"\nown reply fixtures: {len(CASES)} cases, {len(messages)} of them real messages")
