"""Customer-facing text: Jinja2 templates under templates/, rendered from plain dataclasses.

The outbox builds a NoticeContext, renders it here, stores the result and hands it to a
transport; nothing in this module knows about the database. Templates live in one folder per
channel and language (templates/emails/fr/reminder.txt ...). A language without a template falls
back to English with a warning, and the fallback text is formatted as English is written in
the customer's country (en_FR for a French customer: "9 October 2025", "1 749,50 €"), never
with French month names inside an English sentence.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_percent
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

from dunning import languages as langs
from dunning.channels import moneyfmt

log = logging.getLogger(__name__)

TEMPLATES_DIR = langs.TEMPLATES_DIR
FALLBACK_LANGUAGE = langs.FALLBACK
CHANNEL_FOLDERS = langs.CHANNEL_FOLDERS

# Templates about invoices that are not due yet: their sample data lists upcoming invoices.
PRE_DUE_TEMPLATES = frozenset({"pre_due_nudge"})

# What a template reads from NoticeContext.extra, checked before rendering so a caller that
# forgot one gets its name rather than a Jinja traceback.
REQUIRED_EXTRA: dict[str, tuple[str, ...]] = {
    "promise_confirmation": ("promised_on", "promised_minor"),
    "plan_confirmation": ("installments",),
    "installment_reminder": ("installment",),
    "installment_missed": ("installment",),
    "payment_receipt": ("paid_minor", "paid_on", "paid_invoices", "remaining_minor"),
}


@dataclass(frozen=True)
class Party:
    name: str
    language: str = "en"
    country: str | None = None  # ISO 3166 alpha-2
    kind: str = "business"  # "business" or "consumer": changes the legal wording of letters
    email: str | None = None
    phone: str | None = None
    address_lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class InvoiceLine:
    number: str
    issued_on: date
    due_on: date
    balance_minor: int
    currency: str
    days_late: int


@dataclass(frozen=True)
class FeeLine:
    """A fee as a notice lists it, already in the customer's words (channels/fee_text.py)."""

    label: str
    amount_minor: int
    calculation: str  # how the amount was reached, shown to the customer
    kind: str = "other"  # interest | compensation (dunning.policies.fees) | other
    invoice: str | None = None  # the invoice number the fee is about, when it is about one


@dataclass(frozen=True)
class Installment:
    number: int
    due_on: date
    amount_minor: int


@dataclass
class NoticeContext:
    customer: Party
    creditor: Party
    lines: list[InvoiceLine]
    currency: str
    total_minor: int  # overdue principal of the lines
    reference: str
    issued_on: date
    fees: list[FeeLine] = field(default_factory=list)
    fees_total_minor: int = 0
    claimed_fees: list[dict[str, Any]] = field(default_factory=list)  # the fees as data: stored, and sent to the agency
    deadline: date | None = None
    interest_rate: Decimal | None = None  # annual percent, quoted in formal wording
    portal_url: str | None = None
    payment_url: str | None = None
    unsubscribe_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def amount_due_minor(self) -> int:
        return self.total_minor + self.fees_total_minor


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class Problem:
    channel: str
    name: str
    language: str
    message: str

    def __str__(self) -> str:
        return f"{self.channel}/{self.language}/{self.name}: {self.message}"


class TemplateContextError(ValueError):
    pass


def creditor_from_settings(settings: Any) -> Party:
    return Party(
        name=settings.company_name,
        email=settings.company_email,
        phone=settings.company_phone,
        address_lines=tuple(line.strip() for line in settings.company_address.splitlines() if line.strip()),
    )


# --- environment and lookup -------------------------------------------------------------------


@lru_cache(maxsize=8)
def _environment(root: Path) -> Environment:
    return Environment(
        loader=FileSystemLoader(str(root)),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code and change with a deployment (a restart); checking every
        # file's modification time on every render costs a dispatch run thousands of stat calls.
        auto_reload=False,
    )


_warned: set[Path] = set()
_present: set[Path] = set()


def _is_file(path: Path) -> bool:
    # Only what exists is remembered: a translation added later is found without a restart.
    if path in _present:
        return True
    if path.is_file():
        _present.add(path)
        return True
    return False


def _root(templates: Path | None) -> Path:
    return templates.resolve() if templates is not None else TEMPLATES_DIR


def _pick_language(root: Path, folder: str, filename: str, language: str) -> str:
    if _is_file(root / folder / language / filename):
        return language
    fallback = root / folder / FALLBACK_LANGUAGE / filename
    if language != FALLBACK_LANGUAGE and _is_file(fallback):
        # Once per template and language: a batch of a thousand French customers should not
        # print a thousand identical lines.
        key = root / folder / language / filename
        if key not in _warned:
            _warned.add(key)
            log.warning("template %s/%s/%s missing: falling back to English", folder, language, filename)
        return FALLBACK_LANGUAGE
    raise TemplateNotFound(f"{folder}/{language}/{filename}")


def _money(minor: int, currency: str | None = None, *, default_currency: str, locale: Locale) -> str:
    code = currency or default_currency
    if isinstance(minor, int):
        return moneyfmt.formatter(str(locale), code)(minor)
    return moneyfmt.babel_money(minor, code, locale)


def _as_date(value: Any) -> Any:
    # Extras stored with a queued message (promise and plan confirmations) come back from its
    # JSON column as ISO strings.
    return date.fromisoformat(value) if isinstance(value, str) else value


def _variables(name: str, ctx: NoticeContext, language: str) -> dict[str, Any]:
    missing = [key for key in REQUIRED_EXTRA.get(name, ()) if key not in ctx.extra]
    if missing:
        raise TemplateContextError(f"template {name!r} needs extra[{', '.join(missing)}]")
    locale = langs.locale_for(language, ctx.customer.country)
    variables = {f.name: getattr(ctx, f.name) for f in fields(ctx)}
    variables.update(
        ctx=ctx,
        lang=language,
        amount_due_minor=ctx.amount_due_minor,
        money=partial(_money, default_currency=ctx.currency, locale=locale),
        date=lambda value, fmt="long": format_date(_as_date(value), fmt, locale=locale),
        # The locale's own pattern ("12,15 %" in French), keeping the rate's decimals.
        percent=lambda rate: format_percent(Decimal(rate) / 100, locale=locale, decimal_quantization=False),
    )
    return variables


def _render(root: Path, folder: str, name: str, suffixes: tuple[str, ...], ctx: NoticeContext) -> list[str | None]:
    """Render the parts of one template from one language folder: the first suffix decides the
    language, the other parts come from the same folder (None where absent), never a mix."""
    language = _pick_language(root, folder, f"{name}{suffixes[0]}", langs.base(ctx.customer.language))
    variables = _variables(name, ctx, language)
    env = _environment(root)
    return [
        env.get_template(f"{folder}/{language}/{name}{suffix}").render(variables)
        if i == 0 or _is_file(root / folder / language / f"{name}{suffix}")
        else None
        for i, suffix in enumerate(suffixes)
    ]


# --- per channel -------------------------------------------------------------------------------


def render_email(name: str, ctx: NoticeContext, *, templates: Path | None = None) -> RenderedEmail:
    subject, text, html = _render(_root(templates), "emails", name, (".subject.txt", ".txt", ".html"), ctx)
    if text is None:
        raise TemplateNotFound(f"emails/*/{name}.txt")
    return RenderedEmail(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)


_SMS_PLAIN = str.maketrans(
    {
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
    }
)


def sms_plain(text: str) -> str:
    # Number formatters emit no-break spaces and typographers curly quotes; one such character
    # outside GSM-7 turns the whole SMS into UCS-2 and cuts a part from 160 characters to 70.
    return text.translate(_SMS_PLAIN)


def render_sms(name: str, ctx: NoticeContext, *, templates: Path | None = None) -> str:
    [text] = _render(_root(templates), "sms", name, (".txt",), ctx)
    text = re.sub(r"[ \t]+", " ", sms_plain(text))
    return "\n".join(line.strip() for line in text.strip().splitlines())


def with_opt_out_line(text: str, language: str | None) -> str:
    line = langs.strings(language)["opt_out_line"]
    if line.lower() in text.lower():  # the template already says it (the HELP answer does)
        return text
    return f"{text.rstrip()}\n{line}"


def render_letter_html(name: str, ctx: NoticeContext, *, templates: Path | None = None) -> str:
    [html] = _render(_root(templates), "letters", name, (".html",), ctx)
    return html


def html_to_pdf(html: str, path: Path) -> Path:
    # Imported here: WeasyPrint takes most of a second to import and most processes never
    # print a letter. The HTML carries its CSS inline, so nothing needs fetching: only data:
    # URLs are allowed, and a letter can never make the worker read a file or call a URL.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    path.parent.mkdir(parents=True, exist_ok=True)
    HTML(string=html, url_fetcher=URLFetcher(allowed_protocols={"data"})).write_pdf(path)
    return path


def render_letter_pdf(name: str, ctx: NoticeContext, path: Path, *, templates: Path | None = None) -> Path:
    return html_to_pdf(render_letter_html(name, ctx, templates=templates), path)


# --- catalogue, check and preview --------------------------------------------------------------


def languages(templates: Path | None = None) -> list[str]:
    return list(langs.supported(_root(templates)))


def template_names(templates: Path | None = None) -> dict[str, list[str]]:
    """Names per channel, across all languages; files starting with "_" are layouts."""
    root = _root(templates)
    suffix = {"email": ".subject.txt", "sms": ".txt", "letter": ".html"}
    out: dict[str, list[str]] = {}
    for channel, folder in CHANNEL_FOLDERS.items():
        names = (
            {
                p.name[: -len(suffix[channel])]
                for p in (root / folder).glob(f"*/*{suffix[channel]}")
                if not p.name.startswith("_")
            }
            if (root / folder).is_dir()
            else set()
        )
        out[channel] = sorted(names)
    return out


# A customer of each language's home country, for checks and previews (a language without one
# gets the English sample, in its own words).
SAMPLE_CUSTOMERS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "en": ("Acme Widgets Ltd", "GB", "+447700900123", ("Unit 4, Riverside Park", "Leeds LS1 4AB", "United Kingdom")),
    "fr": ("Dupont & Fils SARL", "FR", "+33612345678", ("12 rue de la Paix", "75002 Paris", "France")),
    "de": (
        "Müller Maschinenbau GmbH",
        "DE",
        "+4915112345678",
        ("Industriestraße 12", "70565 Stuttgart", "Deutschland"),
    ),
    "es": ("Construcciones García S.L.", "ES", "+34612345678", ("Calle de Alcalá 45", "28014 Madrid", "España")),
    "it": ("Rossi Forniture S.r.l.", "IT", "+393471234567", ("Via Torino 21", "20123 Milano MI", "Italia")),
    "nl": (
        "De Vries Installatietechniek B.V.",
        "NL",
        "+31612345678",
        ("Keizersgracht 100", "1015 CV Amsterdam", "Nederland"),
    ),
}


def sample_context(language: str = "en", *, kind: str = "business", upcoming: bool = False) -> NoticeContext:
    """Plausible data for checks and previews. upcoming: the invoices are not due yet, as a
    pre-due nudge lists them (nothing late, no fees, no deadline)."""
    name, country, phone, address = SAMPLE_CUSTOMERS.get(language, SAMPLE_CUSTOMERS[FALLBACK_LANGUAGE])
    currency = "GBP" if country == "GB" else "EUR"
    issued = date(2025, 10, 1)
    lines = [
        InvoiceLine("INV-1001", date(2025, 7, 1), date(2025, 7, 31), 120_000, currency, 62),
        InvoiceLine("INV-1017", date(2025, 7, 20), date(2025, 8, 19), 45_050, currency, 43),
        InvoiceLine("INV-1042", date(2025, 8, 10), date(2025, 9, 9), 9_900, currency, 22),
    ]
    fees, rate = [], None
    if not upcoming and kind == "business":
        fees, rate = _sample_fees(lines, language, country, currency, issued)
    if upcoming:
        lines = [replace(line, due_on=issued + timedelta(days=3 + 7 * i), days_late=0) for i, line in enumerate(lines)]
        fees = []
    return NoticeContext(
        customer=Party(
            name=name,
            language=language,
            country=country,
            kind=kind,
            email="accounts@customer.example",
            phone=phone,
            address_lines=address,
        ),
        creditor=Party(
            name="Example Trading Ltd",
            email="collections@example.com",
            phone="+44 20 7946 0000",
            address_lines=("1 Example Street", "London EC1A 1AA", "United Kingdom"),
        ),
        lines=lines,
        currency=currency,
        total_minor=sum(line.balance_minor for line in lines),
        fees=fees,
        fees_total_minor=sum(fee.amount_minor for fee in fees),
        deadline=None if upcoming else issued + timedelta(days=8),
        interest_rate=rate,
        reference="C-000123",
        issued_on=issued,
        portal_url="https://pay.example.com/p/sample-token",
        payment_url="https://pay.example.com/pay/sample-token",
        unsubscribe_url="https://pay.example.com/unsubscribe/sample-token",
        extra={
            "promised_on": issued + timedelta(days=14),
            "promised_minor": 174_950,
            "installments": [
                Installment(i + 1, issued + timedelta(days=30 * i), 58_317 if i else 58_316) for i in range(3)
            ],
            "installment": Installment(2, issued + timedelta(days=30), 58_317),
            "installment_count": 3,
            "agency_name": "Northern Credit Recovery",
            "paid_minor": 165_050,
            "paid_on": issued,
            "paid_invoices": ["INV-1001", "INV-1017"],
            "remaining_minor": 9_900,
        },
    )


def _sample_fees(
    lines: list[InvoiceLine], language: str, country: str | None, currency: str, issued: date
) -> tuple[list[FeeLine], Decimal | None]:
    """The fee lines the law gives the sample invoices, worded as a real notice words them."""
    from dunning.channels import fee_text
    from dunning.policies import fees, rates

    statement = fees.late_payment_fees(
        [fees.Debt(line.number, line.due_on, line.balance_minor) for line in lines],
        currency=currency,
        customer_kind="business",
        country=country,
        as_of=issued,
        book=rates.shipped(),
    )
    return fee_text.notice_lines(statement, language, country), statement.current_rate


def sample_for(name: str, language: str, *, kind: str = "business") -> NoticeContext:
    return sample_context(language, kind=kind, upcoming=name in PRE_DUE_TEMPLATES)


def check_all(templates: Path | None = None, *, pdf: bool = False) -> list[Problem]:
    """Render every template in every language, for a business and a consumer, and list what
    fails or would fall back to English. An empty list means every template is usable."""
    from dunning.channels.gsm import count_segments

    root = _root(templates)
    problems: list[Problem] = []
    renderers = {
        "email": lambda n, c: render_email(n, c, templates=root),
        "sms": lambda n, c: render_sms(n, c, templates=root),
        "letter": lambda n, c: render_letter_html(n, c, templates=root),
    }
    suffix = {"email": ".subject.txt", "sms": ".txt", "letter": ".html"}
    for channel, names in template_names(root).items():
        folder = CHANNEL_FOLDERS[channel]
        for name in names:
            for language in languages(root):
                if not (root / folder / language / f"{name}{suffix[channel]}").is_file():
                    problems.append(Problem(channel, name, language, "missing: falls back to English"))
                    continue
                for kind in ("business", "consumer"):
                    ctx = sample_for(name, language, kind=kind)
                    try:
                        out = renderers[channel](name, ctx)
                    except Exception as exc:  # any failure is a finding, not a crash of the check
                        problems.append(Problem(channel, name, language, f"{kind}: {type(exc).__name__}: {exc}"))
                        continue
                    problems.extend(_inspect(channel, name, language, kind, out, count_segments))
                    if pdf and channel == "letter" and kind == "business":
                        with tempfile.TemporaryDirectory() as tmp:
                            try:
                                html_to_pdf(out, Path(tmp) / "check.pdf")
                            except Exception as exc:
                                problems.append(Problem(channel, name, language, f"pdf: {exc}"))
    return problems + language_files(root)


def _shape(doc: Any) -> set[str]:
    """The keys of a nested mapping, as dotted paths."""
    if not isinstance(doc, dict):
        return set()
    return {f"{key}.{sub}" if sub else str(key) for key, value in doc.items() for sub in (_shape(value) or {""})}


def language_files(root: Path) -> list[Problem]:
    """What each language of `root` needs besides its templates: the fee wording and the short
    texts, with every key the English files have (what replies need is checked by
    `replies.language.reading_problems`). These are always the shipped ones: rendering reads them
    from there whatever the template folder."""
    import yaml

    problems = []
    for folder in ("fees", "strings"):
        english = _shape(yaml.safe_load((TEMPLATES_DIR / folder / f"{FALLBACK_LANGUAGE}.yaml").read_text("utf-8")))
        for language in languages(root):
            path = TEMPLATES_DIR / folder / f"{language}.yaml"
            if not path.is_file():
                problems.append(Problem(folder, f"{language}.yaml", language, "missing"))
                continue
            missing = english - _shape(yaml.safe_load(path.read_text(encoding="utf-8")))
            if missing:
                problems.append(Problem(folder, f"{language}.yaml", language, f"lacks {', '.join(sorted(missing))}"))
    return problems


def _inspect(channel: str, name: str, language: str, kind: str, out: Any, count_segments: Any) -> list[Problem]:
    found = []
    if channel == "email":
        if not out.subject:
            found.append(Problem(channel, name, language, f"{kind}: empty subject"))
        if not out.html:
            found.append(Problem(channel, name, language, f"{kind}: no HTML part"))
    elif channel == "sms":
        segments = count_segments(with_opt_out_line(out, language))
        if segments.segments > 3:
            found.append(
                Problem(
                    channel,
                    name,
                    language,
                    f"{kind}: {segments.segments} {segments.encoding} segments with the opt-out line",
                )
            )
    return found


def preview(
    name: str, language: str, out_dir: Path, *, templates: Path | None = None, ctx: NoticeContext | None = None
) -> list[Path]:
    """Write what each channel would send for `name` with sample data: .eml, .sms.txt, .pdf."""
    from dunning.channels.contract import Envelope
    from dunning.channels.email import MailIdentity, compose_bytes

    root = _root(templates)
    ctx = ctx or sample_for(name, language)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = template_names(root)
    written: list[Path] = []
    stem = f"{name}.{language}"
    if name in names["email"]:
        mail = render_email(name, ctx, templates=root)
        envelope = Envelope(
            message_id=0,
            channel="email",
            recipient=ctx.customer.email or "customer@example.com",
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
            reply_to="preview",
            metadata={"unsubscribe_url": ctx.unsubscribe_url, "recipient_name": ctx.customer.name},
        )
        identity = MailIdentity(
            from_address=ctx.creditor.email or "collections@example.com", from_name=ctx.creditor.name, reply_domain=None
        )
        path = out_dir / f"{stem}.eml"
        path.write_bytes(compose_bytes(envelope, identity).data)
        written.append(path)
    if name in names["sms"]:
        path = out_dir / f"{stem}.sms.txt"
        path.write_text(with_opt_out_line(render_sms(name, ctx, templates=root), language) + "\n", encoding="utf-8")
        written.append(path)
    if name in names["letter"]:
        written.append(render_letter_pdf(name, ctx, out_dir / f"{stem}.pdf", templates=root))
    return written
