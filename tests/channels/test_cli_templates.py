"""`main.py templates check` and `main.py templates preview`."""

from __future__ import annotations

import shutil
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from dunning.channels.render import TEMPLATES_DIR
from dunning.cli import app

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_check_passes_on_the_shipped_templates():
    result = run("templates", "check", "--no-pdf")
    assert result.exit_code == 0, result.output
    assert "render in en, de, es, fr, it, nl" in result.output


def test_a_template_missing_in_a_supported_language_fails_the_check(tmp_path):
    shutil.copytree(TEMPLATES_DIR, tmp_path, dirs_exist_ok=True)
    (tmp_path / "emails" / "nl" / "reminder.subject.txt").unlink()
    (tmp_path / "letters" / "de" / "registered_letter.html").unlink()
    result = run("templates", "check", "--templates", str(tmp_path), "--no-pdf")
    assert result.exit_code == 1
    assert "email/nl/reminder: missing: falls back to English" in result.output
    assert "letter/de/registered_letter: missing: falls back to English" in result.output
    assert "2 problems" in result.output


def test_check_names_each_problem_and_exits_1(tmp_path):
    (tmp_path / "sms" / "en").mkdir(parents=True)
    (tmp_path / "sms" / "fr").mkdir(parents=True)
    (tmp_path / "sms" / "en" / "oops.txt").write_text("Hello {{ customer.nickname }}")
    (tmp_path / "sms" / "en" / "fine.txt").write_text("Hello {{ customer.name }}")
    (tmp_path / "sms" / "fr" / "fine.txt").write_text("Bonjour {{ customer.name }}")
    result = run("templates", "check", "--templates", str(tmp_path), "--no-pdf")
    assert result.exit_code == 1
    assert "sms/fr/oops: missing: falls back to English" in result.output
    assert "sms/en/oops: business: UndefinedError" in result.output and "nickname" in result.output
    assert "/fine" not in result.output


def test_check_turns_letters_into_pdfs(tmp_path):
    for language in ("en", "fr"):
        folder = tmp_path / "letters" / language
        folder.mkdir(parents=True)
        (folder / "note.html").write_text("<p>{{ customer.name }} owes {{ money(total_minor) }}</p>")
    result = run("templates", "check", "--templates", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "1 template (0 email, 0 sms, 1 letter) renders in en, fr, letters as PDF" in result.output


def test_preview_writes_email_sms_and_letter(tmp_path):
    result = run("templates", "preview", "formal_notice", "--lang", "fr", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "formal_notice.fr.eml",
        "formal_notice.fr.pdf",
        "formal_notice.fr.sms.txt",
    ]
    eml = message_from_bytes((tmp_path / "formal_notice.fr.eml").read_bytes(), policy=default_policy)
    assert eml.get_body(("plain",)) is not None and eml.get_body(("html",)) is not None
    assert "INV-1001" in eml.get_body(("plain",)).get_content()
    pdf_text = " ".join(page.extract_text() for page in PdfReader(tmp_path / "formal_notice.fr.pdf").pages)
    assert "INV-1042" in pdf_text
    assert "Répondez STOP" in (tmp_path / "formal_notice.fr.sms.txt").read_text()


def test_preview_of_the_pre_due_nudge_shows_upcoming_invoices(tmp_path):
    result = run("templates", "preview", "pre_due_nudge", "--lang", "en", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pre_due_nudge.en.eml", "pre_due_nudge.en.sms.txt"]
    eml = message_from_bytes((tmp_path / "pre_due_nudge.en.eml").read_bytes(), policy=default_policy)
    assert eml["Subject"] == "Heads-up: 3 invoices are due soon (£1,749.50)"
    assert "days late" not in eml.get_body(("plain",)).get_content()


def test_preview_refuses_an_unknown_name_or_language(tmp_path):
    unknown = run("templates", "preview", "nope", "--out", str(tmp_path))
    assert unknown.exit_code == 2 and "no template named 'nope'" in unknown.output
    assert "pre_due_nudge" in unknown.output
    language = run("templates", "preview", "reminder", "--lang", "pt", "--out", str(tmp_path))
    assert language.exit_code == 2 and "no templates in 'pt'" in language.output
    assert not any(tmp_path.iterdir())
