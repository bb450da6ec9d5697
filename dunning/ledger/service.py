"""The ledger's rules: validating pushed batches, upserting them, allocating payments, reading
balances. No HTTP here; callers are the API routes and the CSV importer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar, cast

import phonenumbers
from sqlalchemy import Table, case, func, literal, or_, select
from sqlmodel import Session, SQLModel, col

from dunning import audit
from dunning.clock import Clock
from dunning.events.publish import new, publish_all
from dunning.ledger import contact_rows
from dunning.ledger.batch import Batch
from dunning.ledger.bulk import (
    Upsert,
    accounts_changed,
    content_hash,
    insert_or_update,
    lock_rows,
    lookup,
    one_of,
    upsert,
)
from dunning.ledger.models import Allocation, Customer, Invoice, Payment
from dunning.ledger.schemas import (
    CreditNoteIn,
    CustomerIn,
    CustomerUpsertResult,
    InvoiceIn,
    PaymentIn,
    UpsertResult,
    fields_of,
)
from dunning.money import LARGE_MINOR, MAX_ACCOUNT, as_string, check_currency, check_grammar, to_minor

# SQLModel sets __table__ on table models without declaring it.
CUSTOMER: Table = Customer.__table__  # type: ignore[attr-defined]
INVOICE: Table = Invoice.__table__  # type: ignore[attr-defined]
PAYMENT: Table = Payment.__table__  # type: ignore[attr-defined]
Model = TypeVar("Model", bound=SQLModel)


def _duplicates(batch: Batch[Any]) -> None:
    first: dict[str, int] = {}
    for i, row in batch.items:
        key = row["external_id"]
        if key in first:
            batch.add(i, "external_id", f"'{key}' appears twice in this batch (rows {first[key]} and {i})")
        else:
            first[key] = i


def _money(
    batch: Batch[Any], index: int, row: Mapping[str, Any], amounts: tuple[str, ...]
) -> tuple[str | None, dict[str, int | None]]:
    """The row's currency and its amounts in minor units (None: absent or refused), each problem
    recorded on its field. Without a known currency an amount is held to the grammar alone.
    `row` may be a refused row as sent (Batch.unflagged): what is not text or a number is left to
    the error it already has."""
    currency = None
    if isinstance(code := row.get("currency"), str):
        try:
            currency = check_currency(code)
        except ValueError as e:
            batch.add(index, "currency", str(e))
    minor: dict[str, int | None] = {}
    for name in amounts:
        amount, minor[name] = row.get(name), None
        if amount is None or isinstance(amount, bool) or not isinstance(amount, (str, int, Decimal)):
            continue
        try:
            if currency is None:
                check_grammar(amount)
            elif (value := to_minor(amount, currency)) < 0:
                batch.add(index, name, "must not be negative")
            else:
                minor[name] = value
        except ValueError as e:
            batch.add(index, name, str(e))
    return currency, minor


def normalise_phone(phone: str, country: str | None) -> str:
    try:
        number = phonenumbers.parse(phone, country)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        where = f" in {country}" if country else " (no country given: use the international +format)"
        raise ValueError(f"'{phone}' can't be a phone number{where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- customers -------------------------------------------------------------------------------

CUSTOMER_DEFAULTS = {
    "excluded": False,
    "refused_channels": [],
    "policy_name": None,
    "hold_until": None,
    "link_version": 1,
}
CONTACTS = ("email", "phone", "address")


def _links_follow_contacts(stmt: Upsert) -> dict[str, Any]:
    """A pushed change of email, phone or address moves the customer's link version on: the links
    sent to the old contact details stop working (dunning/links.py)."""
    changed = or_(*(CUSTOMER.c[name].is_distinct_from(stmt.excluded[name]) for name in CONTACTS))
    return {"link_version": case((changed, CUSTOMER.c.link_version + 1), else_=CUSTOMER.c.link_version)}


def _phone(batch: Batch[Any], index: int, row: Mapping[str, Any]) -> str | None:
    """The phone number in E.164, or None (refused, or none given)."""
    phone, country = row.get("phone"), row.get("country")
    if not phone or not isinstance(phone, str):
        return None
    try:
        return normalise_phone(phone, country.strip().upper() if isinstance(country, str) and country.strip() else None)
    except ValueError as e:
        batch.add(index, "phone", str(e))
        return None


def push_customers(session: Session, clock: Clock, batch: Batch[CustomerIn]) -> CustomerUpsertResult:
    _duplicates(batch)
    for i, sent_row in batch.unflagged():  # every bad field of a row in one answer
        if not batch.flagged(i, "country"):  # the country decides how a national number reads
            _phone(batch, i, sent_row)
            contact_rows.check_nested(batch, i, sent_row)
    values: list[dict[str, Any]] = []
    for i, item in batch.items:
        r = cast(dict[str, Any], item)  # the valid row, rewritten in place into the table's row
        if r["phone"]:
            r["phone"] = _phone(batch, i, r)
        r["contacts"] = contact_rows.check_nested(batch, i, r)
        values.append(r)
    batch.raise_if_any("customers")
    return _write_customers(session, clock, values)


def _write_customers(session: Session, clock: Clock, values: list[dict[str, Any]]) -> CustomerUpsertResult:
    now = clock.now()
    fields = [f for f in fields_of(CustomerIn) if f != "contacts"]  # contacts have hashes of their own
    carried = {data["external_id"]: data.pop("contacts", []) for data in values}
    for data in values:
        data["content_hash"] = content_hash(tuple(map(data.__getitem__, fields)))
        data.update(CUSTOMER_DEFAULTS, created_at=now, updated_at=now)
    result = insert_or_update(
        session, CUSTOMER, values, insert_only=list(CUSTOMER_DEFAULTS), update=_links_follow_contacts
    )
    ids = customer_ids(session, (v["external_id"] for v in values))
    if result.updated:
        accounts_changed(session, clock, ids.values())
    if result.created or result.updated:  # the customer's own fields are its primary contact
        contact_rows.write(session, clock, contact_rows.primaries(values, ids))
    pushed = [{"customer_id": ids[ext], **c} for ext, contacts in carried.items() for c in contacts]
    return CustomerUpsertResult(
        **result.model_dump(), contacts=contact_rows.write(session, clock, pushed) if pushed else None
    )


def customer_ids(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    return {k: v[1] for k, v in lookup(session, col(Customer.external_id), external_ids, col(Customer.id)).items()}


# --- invoices --------------------------------------------------------------------------------


def push_invoices(
    session: Session, clock: Clock, batch: Batch[InvoiceIn], *, create_customers: bool = False
) -> UpsertResult:
    _duplicates(batch)
    known = customer_ids(session, (r["customer_external_id"] for _, r in batch.items))
    missing = {r["customer_external_id"] for _, r in batch.items} - known.keys()
    values: list[dict[str, Any]] = []
    large: dict[tuple[str, str], list[int]] = defaultdict(list)  # rows with an open balance of LARGE_MINOR or more
    for i, sent_row in batch.unflagged():  # every bad field of a row in one answer
        _money(batch, i, sent_row, ("total", "balance"))
    for i, r in batch.items:
        currency, amounts = _money(batch, i, r, ("total", "balance"))
        total, balance = amounts["total"], amounts["balance"]
        if r["due_on"] < r["issued_on"]:
            batch.add(i, "due_on", f"due date {r['due_on']} is before the issue date {r['issued_on']}")
        if total is not None and balance is not None and balance > total:
            batch.add(i, "balance", "balance is larger than the invoice total")
        if r["paid_on"] is not None and balance:
            batch.add(i, "balance", "an invoice with paid_on has nothing open: balance must be 0 or omitted")
        if r["customer_external_id"] in missing and not create_customers:
            batch.add(
                i,
                "customer_external_id",
                f"unknown customer '{r['customer_external_id']}': push it to /v1/customers/bulk first",
            )
        if currency is None or total is None:
            continue
        if balance is None:
            balance = 0 if r["paid_on"] is not None else total
        if balance >= LARGE_MINOR and not r["voided"]:
            large[(r["customer_external_id"], currency)].append(i)
        values.append(
            {
                "external_id": r["external_id"],
                "customer_external_id": r["customer_external_id"],
                "number": r["number"],
                "currency": currency,
                "total_minor": total,
                "reported_balance_minor": balance,
                "issued_on": r["issued_on"],
                "due_on": r["due_on"],
                "paid_on": r["paid_on"],
                "voided": r["voided"],
            }
        )
    batch.raise_if_any("invoices")
    if missing:
        _write_customers(
            session,
            clock,
            [
                {
                    "external_id": ext,
                    "name": ext,
                    "email": None,
                    "phone": None,
                    "language": "en",
                    "timezone": "UTC",
                    "country": None,
                    "kind": "business",
                    "address": None,
                    "tags": [],
                }
                for ext in sorted(missing)
            ],
        )
        known.update(customer_ids(session, missing))
    now = clock.now()
    hashed = (
        "external_id",
        "customer_external_id",
        "number",
        "currency",
        "total_minor",
        "reported_balance_minor",
        "issued_on",
        "due_on",
        "paid_on",
        "voided",
    )
    for v in values:
        v["content_hash"] = content_hash(tuple(map(v.__getitem__, hashed)))
        v["customer_id"] = known[v.pop("customer_external_id")]
        v["balance_minor"] = 0 if v["voided"] else v["reported_balance_minor"]
        v.update(allocated_minor=0, created_at=now, updated_at=now)
    result = insert_or_update(session, INVOICE, values, update=_invoice_update, insert_only=["allocated_minor"])
    _refuse_accounts_over_bound(session, batch, known, large)
    accounts_changed(session, clock, (v["customer_id"] for v in values))  # the next cycle looks at them
    return result


def _refuse_accounts_over_bound(
    session: Session, batch: Batch[InvoiceIn], known: dict[str, int], large: dict[tuple[str, str], list[int]]
) -> None:
    """Within one customer and currency, the open balances of LARGE_MINOR or more that the
    accounting system reports add up to at most MAX_ACCOUNT (see money.py for why that bounds every
    sum of an account). Only the accounts this batch gives such a balance can go over, so a batch
    without one costs nothing; the check runs once the batch is written, and the caller rolls back
    what a refused batch wrote. On SQLite the sum is of floats: a sum past 2^63 must still be seen,
    and the bound leaves room for their rounding."""
    if not large:
        return
    dialect = session.get_bind().dialect.name
    total = func.total if dialect == "sqlite" else func.sum
    over = set(
        session.connection()
        .execute(
            select(col(Invoice.customer_id), col(Invoice.currency))
            .where(
                one_of(col(Invoice.customer_id), "ids", dialect),
                col(Invoice.voided).is_(False),
                col(Invoice.reported_balance_minor) >= LARGE_MINOR,
            )
            .group_by(col(Invoice.customer_id), col(Invoice.currency))
            .having(total(col(Invoice.reported_balance_minor)) > MAX_ACCOUNT),
            {"ids": sorted({known[customer] for customer, _ in large})},
        )
        .all()
    )
    rows = dict(batch.items)
    for (customer, currency), indexes in large.items():
        if (known[customer], currency) in over:
            for i in indexes:
                batch.add(
                    i,
                    "total" if rows[i]["balance"] is None else "balance",
                    f"customer '{customer}' would owe more than {as_string(MAX_ACCOUNT, currency)} {currency} in "
                    f"invoices of {as_string(LARGE_MINOR, currency)} or more, the most one account may owe",
                )
    batch.raise_if_any("invoices")


def _invoice_update(stmt: Upsert) -> dict[str, Any]:
    """On a re-push, the open balance is recomputed against what our payments already took off."""
    new, stored = stmt.excluded, INVOICE.c
    after_payments = new.total_minor - stored.allocated_minor
    balance = case(
        (new.voided, literal(0)),
        (after_payments <= 0, literal(0)),
        (new.reported_balance_minor < after_payments, new.reported_balance_minor),
        else_=after_payments,
    )
    return {
        "balance_minor": balance,
        "paid_on": case((new.paid_on.is_not(None), new.paid_on), (balance == 0, stored.paid_on), else_=None),
    }


def effective_balance(inv: Invoice) -> int:
    if inv.voided:
        return 0
    return max(0, min(inv.reported_balance_minor, inv.total_minor - inv.allocated_minor))


# --- payments and credit notes ---------------------------------------------------------------

PAYMENT_HASHED = ("customer_id", "invoice_id", "currency", "amount_minor", "received_on")
PROVIDER_SOURCES = ("stripe",)  # payments recorded from a provider's webhook rather than pushed


def push_payments(
    session: Session, clock: Clock, batch: Batch[PaymentIn] | Batch[CreditNoteIn], kind: str
) -> UpsertResult:
    what = "payments" if kind == "payment" else "credit notes"
    _duplicates(batch)
    customers = customer_ids(session, (r["customer_external_id"] for _, r in batch.items))
    invoices = lookup(
        session,
        col(Invoice.external_id),
        (r["invoice_external_id"] for _, r in batch.items if r["invoice_external_id"]),
        col(Invoice.id),
        col(Invoice.customer_id),
        col(Invoice.currency),
    )
    dated = "received_on" if kind == "payment" else "issued_on"
    for i, sent_row in batch.unflagged():  # every bad field of a row in one answer
        _money(batch, i, sent_row, ("amount",))
    values = []
    for i, r in batch.items:
        by_name: Mapping[str, Any] = r  # a payment's date and a credit note's have different keys
        currency, amounts = _money(batch, i, r, ("amount",))
        amount = amounts["amount"]
        if amount == 0:
            batch.add(i, "amount", "must be more than zero")
        customer_id = customers.get(r["customer_external_id"])
        if customer_id is None:
            batch.add(i, "customer_external_id", f"unknown customer '{r['customer_external_id']}'")
        invoice_id = None
        if invoice := r["invoice_external_id"]:
            found = invoices.get(invoice)
            if found is None:
                batch.add(i, "invoice_external_id", f"unknown invoice '{invoice}'")
            elif customer_id is not None and found[2] != customer_id:
                batch.add(i, "invoice_external_id", f"invoice '{invoice}' belongs to another customer")
            elif currency is not None and found[3] != currency:
                batch.add(i, "currency", f"invoice '{invoice}' is in {found[3]}, not {currency}")
            else:
                invoice_id = found[1]
        values.append(
            {
                "kind": kind,
                "external_id": r["external_id"],
                "customer_id": customer_id,
                "invoice_ids": [invoice_id] if invoice_id else [],
                "currency": currency,
                "amount_minor": amount,
                "received_on": by_name[dated],
                "provider_reference": r.get("provider_reference"),
            }
        )
    batch.raise_if_any(what)
    return record_payments(session, clock, values, kind)


def _payment_hash(v: dict[str, Any]) -> str:
    """What a payment says; the fields added later enter only when set, so that replaying what was
    pushed before them still finds every row unchanged."""
    later = (v["invoice_ids"][1:], v["provider_reference"], v["source"])
    extra = later if later != ([], None, "push") else ()
    return content_hash((*map(v.__getitem__, PAYMENT_HASHED), *extra))


def record_payments(session: Session, clock: Clock, values: list[dict[str, Any]], kind: str) -> UpsertResult:
    """Write validated payments (or credit notes) and allocate those that are new or changed.
    Pushed ones and those recorded from an online payment provider (dunning/payments) come through
    here alike: each value has kind, external_id, customer_id, invoice_ids (named, in order),
    currency, amount_minor, received_on, and may have provider_reference and source.

    One payment per provider reference counts: a pushed payment naming a reference takes the place
    of the one recorded from the provider's webhook (its allocations are reversed, its row removed),
    and the webhook records nothing for a reference a pushed payment already has
    (dunning/payments/service.py). Writers of one customer are serialised first, so the check and
    the write cannot interleave with another's."""
    lock_rows(session, CUSTOMER, (v["customer_id"] for v in values))
    now = clock.now()
    for v in values:
        v.setdefault("provider_reference", None)
        v.setdefault("source", "push")
        v["invoice_id"] = v["invoice_ids"][0] if v["invoice_ids"] else None
        v["content_hash"] = _payment_hash(v)
        v.update(unallocated_minor=v["amount_minor"], created_at=now, updated_at=now)
    existing = lookup(
        session,
        col(Payment.external_id),
        (v["external_id"] for v in values),
        col(Payment.content_hash),
        col(Payment.id),
        where=col(Payment.kind) == kind,
    )
    changed = [v for v in values if existing.get(v["external_id"], (None, None))[1] != v["content_hash"]]
    replaced = _provider_copies(session, [v for v in changed if v["source"] == "push"])
    told = {p.provider_reference for p in replaced}  # neighbours heard of that money when it was recorded
    _reverse_allocations(
        session,
        [existing[v["external_id"]][2] for v in changed if v["external_id"] in existing] + [p.id for p in replaced],
    )
    for p in replaced:
        session.delete(p)
        audit.record(
            session,
            clock,
            actor="ledger",
            action="payment.replaced",
            subject_type="payment",
            subject_id=p.external_id,
            provider_reference=p.provider_reference,
            amount_minor=p.amount_minor,
        )
    session.flush()
    result = upsert(
        session,
        PAYMENT,
        values,
        conflict=["kind", "external_id"],
        key_of=lambda r: r["external_id"],
        existing={k: v[1] for k, v in existing.items()},
    )
    if kind == "payment":
        _received(
            session,
            clock,
            [
                v
                for v in values
                if v["external_id"] not in existing
                and not (v["provider_reference"] and v["provider_reference"] in told)
            ],
        )
    if changed:
        ids = lookup(
            session,
            col(Payment.external_id),
            (v["external_id"] for v in changed),
            col(Payment.id),
            where=col(Payment.kind) == kind,
        )
        _allocate(session, [_stored(session, Payment, ids[v["external_id"]][1]) for v in changed])
    return result


def _received(session: Session, clock: Clock, values: list[dict[str, Any]]) -> None:
    """`payment.received` for each new payment, pushed or recorded from a provider; the pushed copy
    of a provider's payment is not new money."""
    if not values:
        return
    customers = dict(
        session.execute(
            select(col(Customer.id), col(Customer.external_id)).where(
                col(Customer.id).in_({v["customer_id"] for v in values})
            )
        ).all()
    )
    first = {v["invoice_ids"][0] for v in values if v["invoice_ids"]}
    invoices = (
        dict(session.execute(select(col(Invoice.id), col(Invoice.external_id)).where(col(Invoice.id).in_(first))).all())
        if first
        else {}
    )
    publish_all(
        session,
        [
            new(
                clock,
                "payment.received",
                customer_id=v["customer_id"],
                payment=v["external_id"],
                customer=customers[v["customer_id"]],
                invoice=invoices.get(v["invoice_ids"][0]) if v["invoice_ids"] else None,
                currency=v["currency"],
                amount=as_string(v["amount_minor"], v["currency"]),
                received_on=v["received_on"],
                source=v["source"],
            )
            for v in values
        ],
    )


def _provider_copies(session: Session, pushed: list[dict[str, Any]]) -> list[Payment]:
    """Payments recorded from a provider that these pushed payments are the accounting system's
    record of (the same provider reference)."""
    references = {v["provider_reference"] for v in pushed if v["provider_reference"]}
    if not references:
        return []
    return list(
        session.execute(
            select(Payment).where(
                col(Payment.kind) == "payment",
                col(Payment.source).in_(PROVIDER_SOURCES),
                col(Payment.provider_reference).in_(sorted(references)),
            )
        ).scalars()
    )


def _stored(session: Session, model: type[Model], row_id: int) -> Model:
    """A row this transaction wrote or another row references: it exists."""
    row = session.get(model, row_id)
    assert row is not None, f"{model.__name__} {row_id} is referenced but missing"
    return row


def _id(row: Payment | Invoice) -> int:
    assert row.id is not None, f"{type(row).__name__} is not stored: only stored rows are allocated"
    return row.id


def _reverse_allocations(session: Session, payment_ids: list[int]) -> None:
    if not payment_ids:
        return
    allocations = session.execute(select(Allocation).where(col(Allocation.payment_id).in_(payment_ids))).scalars().all()
    for a in allocations:
        inv = _stored(session, Invoice, a.invoice_id)
        inv.allocated_minor -= a.amount_minor
        inv.balance_minor = effective_balance(inv)
        if inv.balance_minor > 0 and inv.paid_on is not None:
            inv.paid_on = None
        session.delete(a)
    session.flush()


def _allocate(session: Session, payments: list[Payment]) -> None:
    """The named invoices first, in their order, each up to its open balance; what is left goes to
    the oldest open invoices of that customer and currency; what is still left stays as unallocated
    credit."""
    open_by_account: dict[tuple[int, str], list[Invoice]] = defaultdict(list)
    accounts = {(p.customer_id, p.currency) for p in payments}
    for customer_id, currency in accounts:
        open_by_account[(customer_id, currency)] = list(
            session.execute(
                select(Invoice)
                .where(
                    col(Invoice.customer_id) == customer_id,
                    col(Invoice.currency) == currency,
                    col(Invoice.balance_minor) > 0,
                )
                .order_by(col(Invoice.due_on), col(Invoice.issued_on), col(Invoice.id))
            ).scalars()
        )
    for p in sorted(payments, key=lambda p: (p.received_on, p.id)):
        session.refresh(p)
        remaining = p.amount_minor
        candidates = open_by_account[(p.customer_id, p.currency)]
        rank = {invoice_id: i for i, invoice_id in enumerate(p.invoice_ids)}
        ordered = sorted(candidates, key=lambda inv: rank.get(_id(inv), len(rank)))  # stable: named first
        for inv in ordered:
            if remaining == 0:
                break
            take = min(remaining, effective_balance(inv))
            if take <= 0:
                continue
            session.add(Allocation(payment_id=_id(p), invoice_id=_id(inv), amount_minor=take))
            inv.allocated_minor += take
            inv.balance_minor = effective_balance(inv)
            if inv.balance_minor == 0 and inv.paid_on is None:
                inv.paid_on = p.received_on
            remaining -= take
        p.unallocated_minor = remaining
    session.flush()
