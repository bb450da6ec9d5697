"""What accounting systems send and get back. Single-field rules live here; rules that need two
fields or the database live in service.py, so every message can name the field it is about."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints, with_config
from typing_extensions import TypedDict

from dunning import languages
from dunning.bounds import NOT_A_DOT_SEGMENT, Day
from dunning.contacts.models import Role

MAX_BATCH = 10_000

ExternalId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_A_DOT_SEGMENT)
]


def _not_a_float(value: float) -> float:
    raise ValueError("an amount with decimals is read from its text, never from a float")


# Amounts stay as given (a JSON string stays a str) and are turned into minor units once, with the
# currency known (money.to_minor); converting to Decimal here would cost a large batch a third of
# its parsing time. A float is refused (and an integer must be one in the JSON too): pydantic-core
# makes a float of a JSON number with decimals before anyone sees its digits (10.000000000000000001
# would be 10.0), so Batch.parse reads such a batch again with every number as the text that was
# written. The check costs a call only when there is a float, and trying the members in order
# (a string first) is cheaper than pydantic's default "smart" union.
Amount = Annotated[
    str | Annotated[int, Strict()] | Annotated[float, AfterValidator(_not_a_float)],
    Field(union_mode="left_to_right", description="decimal string or number, at most the currency's decimals"),
]
Currency = Annotated[str, Field(max_length=10, description="ISO 4217 code; checked with the amounts")]


@lru_cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache
def _countries() -> frozenset[str]:
    return frozenset(code for code in get_global("territory_currencies") if len(code) == 2 and code.isalpha())


def _email(v: str | None) -> str | None:
    if not v:
        return None
    try:
        return validate_email(v, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise ValueError(f"'{v}' is not an email address: {e}") from None


def _language(v: str) -> str:
    # A language we do not write would get English; the sender should say so rather than find out.
    try:
        code = str(Locale.parse(v.replace("-", "_")))
    except (ValueError, UnknownLocaleError):
        raise ValueError(f"'{v}' is not a language code such as 'en' or 'fr'") from None
    if not languages.is_supported(code):
        raise ValueError(f"'{v}' is not a language we write to customers in: {', '.join(languages.supported())}")
    return code


def _timezone(v: str) -> str:
    if v not in _timezones():
        raise ValueError(f"'{v}' is not an IANA time zone such as 'Europe/Paris'")
    return v


def _country(v: str | None) -> str | None:
    if not v:
        return None
    if v.upper() not in _countries():
        raise ValueError(f"'{v}' is not an ISO 3166 alpha-2 country code such as 'FR'")
    return v.upper()


# Pushed rows are TypedDicts, validated into plain dicts: a model instance per row would cost a
# 5,000-row batch about three times the parsing time, and ingest is the hot path. Defaults are
# filled in by validation. Not dunning.inputs.Input either: a per-field Python validator would
# double the parsing time; Batch checks the text for control characters instead, only when the
# body can have any. Every text field is one line except those in MULTILINE_FIELDS.
ROW = ConfigDict(extra="forbid", str_strip_whitespace=True)


MAX_CONTACTS = 20  # per customer in one push


def _roles(roles: list[str]) -> list[str]:
    if len(set(roles)) != len(roles):
        raise ValueError("a role is listed twice")
    return roles


Roles = Annotated[list[Role], Field(min_length=1, max_length=4), AfterValidator(_roles)]


@with_config(ROW)
class ContactIn(TypedDict):
    external_id: ExternalId
    name: Annotated[str | None, Field(default=None, max_length=300)]
    email: Annotated[str | None, Field(default=None, max_length=320), AfterValidator(_email)]
    phone: Annotated[
        str | None, Field(default=None, max_length=40, description="E.164, or national in the customer's country")
    ]
    address: Annotated[
        str | None, Field(default=None, max_length=1000, description="postal address, one line per line")
    ]
    language: Annotated[
        str | None,
        Field(default=None, max_length=20, description="omitted: the customer's"),
        AfterValidator(lambda v: _language(v) if v else None),
    ]
    roles: Roles


@with_config(ROW)
class ContactRowIn(ContactIn):
    customer_external_id: ExternalId


@with_config(ROW)
class CustomerIn(TypedDict):
    external_id: ExternalId
    name: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    email: Annotated[str | None, Field(default=None, max_length=320), AfterValidator(_email)]
    phone: Annotated[str | None, Field(default=None, max_length=40)]
    language: Annotated[str, Field(default="en", max_length=20), AfterValidator(_language)]
    timezone: Annotated[str, Field(default="UTC", max_length=64), AfterValidator(_timezone)]
    country: Annotated[str | None, Field(default=None, max_length=10), AfterValidator(_country)]
    kind: Annotated[Literal["business", "consumer"], Field(default="business")]
    address: Annotated[
        str | None, Field(default=None, max_length=1000, description="postal address, one line per line")
    ]
    tags: Annotated[list[Annotated[str, StringConstraints(max_length=50)]], Field(default_factory=list, max_length=50)]
    contacts: Annotated[
        list[ContactIn],
        Field(
            default_factory=list,
            max_length=MAX_CONTACTS,
            description="upserted by their external_id; contacts left out are kept",
        ),
    ]


@with_config(ROW)
class InvoiceIn(TypedDict):
    external_id: ExternalId
    customer_external_id: ExternalId
    number: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    currency: Currency
    total: Amount
    balance: Annotated[
        Amount | None,
        Field(default=None, description="what is still open; omitted: all of it, or nothing if paid_on is set"),
    ]
    issued_on: Day
    due_on: Day
    paid_on: Annotated[Day | None, Field(default=None)]
    voided: Annotated[bool, Field(default=False)]


@with_config(ROW)
class PaymentIn(TypedDict):
    external_id: ExternalId
    customer_external_id: ExternalId
    invoice_external_id: Annotated[
        ExternalId | None, Field(default=None, description="allocated here first; otherwise oldest open invoice first")
    ]
    currency: Currency
    amount: Amount
    received_on: Day
    provider_reference: Annotated[
        str | None,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        Field(
            default=None,
            description="the online payment's id at its provider (a Stripe "
            "PaymentIntent, pi_...): the payment recorded from the provider's webhook is "
            "then replaced by this one, never counted twice",
        ),
    ]


@with_config(ROW)
class CreditNoteIn(TypedDict):
    external_id: ExternalId
    customer_external_id: ExternalId
    invoice_external_id: Annotated[ExternalId | None, Field(default=None)]
    currency: Currency
    amount: Amount
    issued_on: Day


MULTILINE_FIELDS = frozenset({"address"})


def fields_of(row_type: type) -> list[str]:
    """A row type's field names, in the order they are declared."""
    return list(row_type.__annotations__)


class CustomerBatch(BaseModel):
    customers: list[CustomerIn] = Field(max_length=MAX_BATCH)


class ContactBatch(BaseModel):
    contacts: list[ContactRowIn] = Field(max_length=MAX_BATCH)


class InvoiceBatch(BaseModel):
    invoices: list[InvoiceIn] = Field(max_length=MAX_BATCH)


class PaymentBatch(BaseModel):
    payments: list[PaymentIn] = Field(max_length=MAX_BATCH)


class CreditNoteBatch(BaseModel):
    credit_notes: list[CreditNoteIn] = Field(max_length=MAX_BATCH)


class UpsertResult(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class CustomerUpsertResult(UpsertResult):
    contacts: UpsertResult | None = None  # those the customers carried; absent when none did


class ContactOut(BaseModel):
    external_id: str
    name: str | None
    email: str | None
    phone: str | None
    address: str | None
    language: str | None
    roles: list[str]
    invalid_channels: list[str]  # a bounce or a refusal: that address is not written to
    opted_out_channels: list[str]  # this contact's own opt-outs


class CustomerOut(BaseModel):
    external_id: str
    name: str
    email: str | None
    phone: str | None
    language: str
    timezone: str
    country: str | None
    kind: str
    address: str | None
    tags: list[str]


class BalanceOut(BaseModel):
    currency: str
    open: str
    overdue: str
    oldest_overdue_due_on: date | None


class CustomerDetail(CustomerOut):
    balances: list[BalanceOut]
    contacts: list[ContactOut]
    opted_out_channels: list[str]  # customer-wide: every contact
    hold_until: date | None
    excluded: bool
    policy_name: str | None


class InvoiceOut(BaseModel):
    external_id: str
    customer_external_id: str
    number: str
    currency: str
    total: str
    balance: str
    issued_on: date
    due_on: date
    paid_on: date | None
    voided: bool
    days_overdue: int


class AgingRow(BaseModel):
    currency: str
    not_due: str
    d1_30: str
    d31_60: str
    d61_90: str
    over_90: str
    total: str


class AgingReport(BaseModel):
    as_of: date
    rows: list[AgingRow]
