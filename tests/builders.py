"""Plain builders for request payloads; each returns a dict the API accepts as it is."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any


def customer(external_id: str = "C1", **over: Any) -> dict[str, Any]:
    data = {
        "external_id": external_id,
        "name": f"Customer {external_id}",
        "email": f"{external_id.lower()}@example.com",
        "phone": "+33612345678",
        "language": "fr",
        "timezone": "Europe/Paris",
        "country": "FR",
        "kind": "business",
    }
    data.update(over)
    return data


def invoice(
    external_id: str = "I1", customer_external_id: str = "C1", *, due: date = date(2026, 2, 1), **over: Any
) -> dict[str, Any]:
    data = {
        "external_id": external_id,
        "customer_external_id": customer_external_id,
        "number": f"N-{external_id}",
        "currency": "EUR",
        "total": "100.00",
        "issued_on": (due - timedelta(days=30)).isoformat(),
        "due_on": due.isoformat(),
    }
    data.update(over)
    return data


def payment(
    external_id: str = "P1", customer_external_id: str = "C1", amount: str = "10.00", **over: Any
) -> dict[str, Any]:
    data = {
        "external_id": external_id,
        "customer_external_id": customer_external_id,
        "currency": "EUR",
        "amount": amount,
        "received_on": "2026-02-15",
    }
    data.update(over)
    return data
