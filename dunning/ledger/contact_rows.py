"""Contacts pushed with their customer (`contacts: [...]`) or alone (/v1/contacts/bulk): checked
like every ledger row, upserted by (customer, external_id). The customer's own email, phone and
address are written to the contact `primary` by the same path, so old senders keep working."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, select, update
from sqlmodel import Session, col

from dunning.clock import Clock
from dunning.contacts.models import PRIMARY_KEY, Contact
from dunning.driver import upsert_rows
from dunning.ledger.batch import Batch
from dunning.ledger.bulk import accounts_changed, content_hash, lookup, one_of
from dunning.ledger.models import Customer
from dunning.ledger.schemas import ContactRowIn, UpsertResult

CONTACT: Table = Contact.__table__  # type: ignore[attr-defined]  # SQLModel sets it, undeclared
HASHED = ("name", "email", "phone", "address", "language", "roles")
ADDRESS_OF = {"email": "email", "sms": "phone", "letter": "address"}  # channel -> field


def check(batch: Batch[Any], index: int, contact: Any, prefix: str, country: str | None) -> dict[str, Any] | None:
    """A contact's checks that need no database, each problem named `prefix` + field; the contact
    as it is written (phone in E.164), or None when refused. `contact` may be a refused row as sent."""
    from dunning.ledger.service import normalise_phone  # the ledger's own rule, one of its rows

    if not isinstance(contact, dict):
        return None
    problems = len(batch.errors)
    if contact.get("external_id") == PRIMARY_KEY:
        batch.add(
            index,
            prefix + "external_id",
            f"'{PRIMARY_KEY}' is the contact of the customer's own email, "
            "phone and address fields: give them there, or use another id",
        )
    if not any(isinstance(contact.get(f), str) and contact[f] for f in ADDRESS_OF.values()):
        batch.add(index, prefix + "email", "a contact needs an email, a phone or an address")
    phone = contact.get("phone")
    if isinstance(phone, str) and phone:
        try:
            phone = normalise_phone(phone, country)
        except ValueError as e:
            batch.add(index, prefix + "phone", str(e))
    if len(batch.errors) > problems:
        return None
    return {
        "external_id": contact.get("external_id"),
        "name": contact.get("name"),
        "email": contact.get("email"),
        "phone": phone or None,
        "address": contact.get("address"),
        "language": contact.get("language"),
        "roles": list(contact.get("roles") or ()),
    }


def check_nested(batch: Batch[Any], index: int, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The contacts a customer row carries, checked; duplicates named."""
    out: list[dict[str, Any]] = []
    first: dict[Any, int] = {}
    country = row.get("country") if isinstance(row.get("country"), str) else None
    contacts = row.get("contacts")
    for position, contact in enumerate(contacts if isinstance(contacts, list) else ()):
        key = contact.get("external_id") if isinstance(contact, dict) else None
        if isinstance(key, str) and key in first:
            batch.add(
                index,
                f"contacts.{position}.external_id",
                f"'{key}' appears twice in this customer's contacts ({first[key]} and {position})",
            )
            continue
        first[key] = position
        checked = check(batch, index, contact, f"contacts.{position}.", country)
        if checked is not None:
            out.append(checked)
    return out


def push(session: Session, clock: Clock, batch: Batch[ContactRowIn]) -> UpsertResult:
    """POST /v1/contacts/bulk: all or nothing, every bad row and field named."""
    sent = [r.get("customer_external_id") for _, r in (*batch.items, *batch.refused)]
    known = lookup(
        session,
        col(Customer.external_id),
        (k for k in sent if isinstance(k, str)),
        col(Customer.id),
        col(Customer.country),
    )
    first: dict[tuple[str, str], int] = {}
    rows = []
    for i, sent_row in batch.unflagged():  # every bad field of a row in one answer
        key = sent_row.get("customer_external_id")
        customer = known.get(key) if isinstance(key, str) else None
        check(batch, i, sent_row, "", customer[2] if customer else None)
    for i, r in batch.items:
        key = (r["customer_external_id"], r["external_id"])
        if key in first:
            batch.add(
                i,
                "external_id",
                f"'{key[1]}' of customer '{key[0]}' appears twice in this batch (rows {first[key]} and {i})",
            )
            continue
        first[key] = i
        customer = known.get(r["customer_external_id"])
        if customer is None:
            batch.add(
                i,
                "customer_external_id",
                f"unknown customer '{r['customer_external_id']}': push it to /v1/customers/bulk first",
            )
        checked = check(batch, i, r, "", customer[2] if customer else None)
        if checked is not None and customer is not None:
            rows.append({"customer_id": customer[1], **checked})
    batch.raise_if_any("contacts")
    return write(session, clock, rows)


def primaries(customers: Iterable[dict[str, Any]], ids: dict[str, int]) -> list[dict[str, Any]]:
    """The contact `primary` of each pushed customer, from its own email, phone and address."""
    return [
        {
            "customer_id": ids[c["external_id"]],
            "external_id": PRIMARY_KEY,
            "name": c["name"],
            "email": c["email"],
            "phone": c["phone"],
            "address": c["address"],
            "language": None,
            "roles": [PRIMARY_KEY],
        }
        for c in customers
    ]


def write(session: Session, clock: Clock, contacts: list[dict[str, Any]]) -> UpsertResult:
    """Upsert by (customer, external_id); unchanged contacts are not written. A contact whose
    address on a channel changed loses its invalid mark there; one with nothing to write to and
    not stored yet is not created (a customer without email, phone or address has no primary)."""
    result = UpsertResult()
    stored = _stored(session, {c["customer_id"] for c in contacts})
    now = clock.now()
    rows, moved = [], set()
    for c in contacts:
        digest = content_hash(tuple(map(c.__getitem__, HASHED)))
        old = stored.get((c["customer_id"], c["external_id"]))
        if old is None and not any(c[f] for f in ADDRESS_OF.values()):
            continue
        if old is not None and old.content_hash == digest:
            result.unchanged += 1
            continue
        invalid: list[str] = []
        if old is None:
            result.created += 1
        else:
            result.updated += 1
            changed = {ch for ch, f in ADDRESS_OF.items() if getattr(old, f) != c[f]}
            invalid = [ch for ch in old.invalid_channels if ch not in changed]
            if changed and c["external_id"] != PRIMARY_KEY:  # the primary's move the customer's own row
                moved.add(c["customer_id"])
        rows.append({**c, "invalid_channels": invalid, "content_hash": digest, "created_at": now, "updated_at": now})
    if rows:
        key = ["customer_id", "external_id"]
        upsert_rows(
            session,
            CONTACT,
            rows,
            key,
            lambda stmt: {n: stmt.excluded[n] for n in rows[0] if n not in (*key, "created_at")},
        )
        accounts_changed(session, clock, (r["customer_id"] for r in rows))  # who can be written to may have changed
    if moved:  # links sent to an old address stop working (dunning/links.py)
        session.execute(
            update(Customer)
            .where(col(Customer.id).in_(moved))
            .values(link_version=col(Customer.link_version) + 1)
            .execution_options(synchronize_session=False)
        )
    return result


def _stored(session: Session, customer_ids: set[int]) -> dict[tuple[int, str], Any]:
    if not customer_ids:
        return {}
    conn = session.connection()
    stmt = select(
        CONTACT.c.customer_id,
        CONTACT.c.external_id,
        CONTACT.c.email,
        CONTACT.c.phone,
        CONTACT.c.address,
        CONTACT.c.invalid_channels,
        CONTACT.c.content_hash,
    ).where(one_of(CONTACT.c.customer_id, "ids", conn.dialect.name))
    return {(r.customer_id, r.external_id): r for r in conn.execute(stmt, {"ids": sorted(customer_ids)})}
