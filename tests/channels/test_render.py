"""Templates: every one renders in every language, and the rendering rules hold."""

from __future__ import annotations

import logging
from dataclasses import replace
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from jinja2 import TemplateNotFound, UndefinedError

from dunning.channels.gsm import count_segments
from dunning.channels.render import (
    Party,
    TemplateContextError,
    check_all,
    preview,
    render_email,
    render_letter_html,
    render_sms,
    sample_context,
    template_names,
    with_opt_out_line,
)
from dunning.languages import supported

STEP_KINDS = ["reminder", "formal_notice", "registered_letter", "agency_handoff"]
NUDGES = ["pre_due_nudge"]
CONFIRMATIONS = [
    "promise_confirmation",
    "plan_confirmation",
    "installment_reminder",
    "installment_missed",
    "opt_out_confirmation",
    "help",
    "payment_receipt",
]


def plain(text: str) -> str:
    return " ".join(text.split())  # babel's no-break spaces become plain ones


def test_every_template_renders_in_every_language():
    assert [str(p) for p in check_all()] == []


def test_the_catalogue_has_every_step_and_confirmation():
    names = template_names()
    assert set(names["email"]) == set(STEP_KINDS + NUDGES + CONFIRMATIONS)
    assert set(names["sms"]) == set(STEP_KINDS + NUDGES + CONFIRMATIONS) - {"registered_letter"}
    assert set(names["letter"]) == set(STEP_KINDS)


def test_money_and_dates_follow_the_customer_language():
    fr = render_email("reminder", sample_context("fr"))
    en = render_email("reminder", sample_context("en"))
    assert "1 749,50 €" in plain(fr.text) and "31 juillet 2025" in fr.text
    assert "£1,749.50" in en.text and "31 July 2025" in en.text
    assert fr.subject.startswith("Rappel") and en.subject.startswith("Friendly reminder")


def test_tone_moves_from_courteous_to_formal():
    ctx = sample_context("en")
    assert "We hope all is well" in render_email("reminder", ctx).text
    formal = render_email("formal_notice", ctx).text
    assert "We now require payment of £1,931.70 no later than 9 October 2025" in formal
    assert "Fixed compensation for recovery costs, invoice INV-1001: £70.00" in formal
    assert "legal proceedings" in render_email("registered_letter", ctx).text


def test_confirmations_repeat_date_and_amount():
    ctx = sample_context("en")
    promise = render_email("promise_confirmation", ctx)
    assert "£1,749.50 on 15 October 2025" in promise.text and "£1,749.50" in promise.subject
    plan = render_email("plan_confirmation", ctx).text
    assert "£583.16 by 1 October 2025" in plan and "Total: £1,749.50" in plan
    assert "15/10/2025" in render_sms("promise_confirmation", ctx)


def test_html_is_escaped_and_text_is_not():
    ctx = sample_context("en")
    ctx = replace(ctx, customer=replace(ctx.customer, name="<b>Acme</b> & Sons"))
    mail = render_email("reminder", ctx)
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; Sons" in mail.html and "<b>Acme</b>" not in mail.html
    assert "Dear <b>Acme</b> & Sons," in mail.text
    assert "&lt;b&gt;Acme" in render_letter_html("reminder", ctx)


def test_a_missing_translation_falls_back_to_english_with_a_warning(tmp_path, caplog):
    folder = tmp_path / "emails" / "en"
    folder.mkdir(parents=True)
    (folder / "nudge.subject.txt").write_text("About {{ reference }}")
    (folder / "nudge.txt").write_text("Total {{ money(total_minor) }} due {{ date(deadline) }}")
    (folder / "nudge.html").write_text("<p>{{ reference }}</p>")
    (tmp_path / "emails" / "fr").mkdir()
    with caplog.at_level(logging.WARNING, logger="dunning.channels.render"):
        mail = render_email("nudge", sample_context("fr"), templates=tmp_path)
    assert mail.subject == "About C-000123"
    assert mail.html == "<p>C-000123</p>"
    # English text formatted as English is written in the customer's country (CLDR en_FR):
    # "October", not "octobre", inside an English sentence.
    assert plain(mail.text) == "Total 1 749,50 € due 9 October 2025"
    assert any("emails/fr/nudge.subject.txt missing" in r.getMessage() for r in caplog.records)
    assert [str(p) for p in check_all(tmp_path)] == ["email/fr/nudge: missing: falls back to English"]


def test_a_template_missing_everywhere_fails():
    with pytest.raises(TemplateNotFound):
        render_email("no_such_template", sample_context("en"))


def test_a_broken_template_fails_loudly_and_check_all_reports_it(tmp_path):
    folder = tmp_path / "sms" / "en"
    folder.mkdir(parents=True)
    (folder / "oops.txt").write_text("Hello {{ customer.nickname }}")
    with pytest.raises(UndefinedError):
        render_sms("oops", sample_context("en"), templates=tmp_path)
    [problem] = [p for p in check_all(tmp_path) if "business" in p.message]
    assert (problem.channel, problem.name, problem.language) == ("sms", "oops", "en")
    assert "nickname" in problem.message


def test_missing_extra_data_is_named():
    ctx = replace(sample_context("en"), extra={})
    with pytest.raises(TemplateContextError, match="promised_on, promised_minor"):
        render_email("promise_confirmation", ctx)


def test_opt_out_line_per_language_and_once():
    assert with_opt_out_line("Hi", "en") == "Hi\nReply STOP to opt out"
    assert with_opt_out_line("Salut", "fr-FR") == "Salut\nRépondez STOP pour vous désabonner"
    assert with_opt_out_line("Hej", "sv") == "Hej\nReply STOP to opt out"
    once = with_opt_out_line("Hi", "en")
    assert with_opt_out_line(once, "en") == once


@pytest.mark.parametrize("language", supported())
def test_every_sms_stays_gsm7_with_the_opt_out_line(language):
    for name in template_names()["sms"]:
        text = with_opt_out_line(render_sms(name, sample_context(language)), language)
        count = count_segments(text)
        assert count.encoding == "GSM-7" and count.segments <= 2, (name, text)


def test_registered_letter_wording_depends_on_country_and_kind():
    ctx = sample_context("fr")
    assert "L441-10" in render_letter_html("registered_letter", ctx)
    belgian = replace(ctx, customer=replace(ctx.customer, country="BE"))
    assert "Conformément à l'article L441-10" not in render_letter_html("registered_letter", belgian)
    uk = sample_context("en")
    assert "Late Payment of Commercial Debts (Interest) Act 1998" in render_letter_html("registered_letter", uk)
    consumer = sample_context("en", kind="consumer")
    assert "Late Payment of Commercial Debts" not in render_letter_html("registered_letter", consumer)


def test_a_single_invoice_reads_in_the_singular():
    ctx = sample_context("fr")
    ctx = replace(ctx, lines=ctx.lines[:1], total_minor=ctx.lines[0].balance_minor)
    assert "la facture INV-1001 de 1 200,00 € reste impayée" in plain(render_sms("reminder", ctx))
    assert render_email("reminder", ctx).subject.startswith("Rappel : la facture INV-1001 est arrivée à échéance")


@pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")
def test_preview_writes_what_each_channel_would_send(tmp_path):
    written = preview("reminder", "fr", tmp_path)
    assert sorted(p.name for p in written) == ["reminder.fr.eml", "reminder.fr.pdf", "reminder.fr.sms.txt"]
    eml = message_from_bytes((tmp_path / "reminder.fr.eml").read_bytes(), policy=default_policy)
    assert eml["Subject"].startswith("Rappel") and eml.get_body(("html",)) is not None
    assert (tmp_path / "reminder.fr.pdf").read_bytes().startswith(b"%PDF")
    assert "Répondez STOP" in (tmp_path / "reminder.fr.sms.txt").read_text()


def test_party_defaults_are_safe():
    party = Party(name="X")
    assert party.language == "en" and party.address_lines == ()


def test_the_pre_due_nudge_announces_a_due_date_and_no_lateness():
    ctx = sample_context("en", upcoming=True)
    one = replace(ctx, lines=ctx.lines[:1], total_minor=ctx.lines[0].balance_minor)
    mail = render_email("pre_due_nudge", one)
    assert mail.subject == "Heads-up: invoice INV-1001 is due on 4 October 2025 (£1,200.00)"
    assert "your invoice INV-1001 for £1,200.00 is due on 4 October 2025" in mail.text
    several = render_email("pre_due_nudge", ctx)
    for number in ("INV-1001", "INV-1017", "INV-1042"):
        assert number in several.text and number in several.html
    for text in (mail.text, several.text, several.html):
        assert "late" not in text.replace("Nothing is late", "")
    fr = render_email("pre_due_nudge", replace(sample_context("fr", upcoming=True), lines=ctx.lines[:1]))
    assert "arrive à échéance le 4 octobre 2025" in fr.subject and "retard" not in fr.text.replace("Aucun retard", "")
    assert "is due on 04/10/2025" in render_sms("pre_due_nudge", one)


def _in(language: str, country: str):
    """The sample notice of a language for a customer in another country, with that country's fees."""
    from dunning.channels.render import _sample_fees

    ctx = sample_context(language)
    ctx = replace(ctx, customer=replace(ctx.customer, country=country))
    fees, rate = _sample_fees(ctx.lines, language, country, ctx.currency, ctx.issued_on)
    return replace(ctx, fees=fees, fees_total_minor=sum(f.amount_minor for f in fees), interest_rate=rate)


@pytest.mark.parametrize(
    "language, country, total",
    [
        ("de", "DE", "1.749,50 €"),
        ("de", "AT", "€ 1.749,50"),
        ("de", "CH", "EUR 1’749.50"),
        ("fr", "BE", "1 749,50 €"),
        ("nl", "NL", "€ 1.749,50"),
        ("nl", "BE", "€ 1.749,50"),
        ("it", "CH", "€ 1’749.50"),
        ("es", "ES", "1.749,50 €"),
    ],
)
def test_money_follows_the_language_and_the_country(language, country, total):
    # the subject is one line of plain spaces; babel's no-break spaces are folded into it
    assert f"({total})" in render_email("reminder", _in(language, country)).subject


def test_a_country_whose_fee_rule_is_not_built_reads_nothing_of_fees():
    swiss = render_letter_html("registered_letter", _in("de", "CH"))
    assert _in("de", "CH").fees == [] and "Verzug" not in swiss and "Zinsen" not in swiss and "BGB" not in swiss
    austrian = render_letter_html("registered_letter", _in("de", "AT"))  # the EU rule: no German law named
    assert "Verzugszinsen" in austrian and "BGB" not in austrian and "Richtlinie 2011/7/EU" in austrian
    german = render_letter_html("registered_letter", _in("de", "DE"))
    assert "§ 288 Abs. 2 BGB" in german and "§ 288 Abs. 5 BGB" in german
    consumer = render_letter_html("registered_letter", sample_context("de", kind="consumer"))
    assert "Verzugspauschale" not in consumer and "Abs. 2" not in consumer
    belgian = render_letter_html("registered_letter", _in("nl", "BE"))
    assert "6:119a" not in belgian and "Belgische wet van 2 augustus 2002" in belgian
