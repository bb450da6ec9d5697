"""Who a step writes to, by role: one rule for the engine's plan, the preview and the message
as it goes out. Pure: anything with `roles` will do (a contact row, the engine's view of one)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from dunning.contacts.models import PRIMARY_KEY

T = TypeVar("T")

DEFAULT_TO = (PRIMARY_KEY,)  # a step that names no roles writes where it always did


def holders(contacts: Iterable[T], roles: Sequence[str]) -> list[T]:
    """The contacts holding any of `roles`; when none does, the primary contact(s): a customer
    who gave no legal contact still gets the formal notice, at its main address."""
    contacts = list(contacts)
    wanted = set(roles)
    chosen = [c for c in contacts if wanted & set(c.roles)]  # type: ignore[attr-defined]
    return chosen or [c for c in contacts if PRIMARY_KEY in c.roles]  # type: ignore[attr-defined]


def copied(contacts: Iterable[T], roles: Sequence[str], to: Sequence[T]) -> list[T]:
    """The contacts in copy: holding a `cc` role and not already written to. No fallback: a
    copy nobody asked for is a message to the wrong person."""
    wanted = set(roles)
    return [c for c in contacts if wanted & set(c.roles) and c not in to]  # type: ignore[attr-defined]
