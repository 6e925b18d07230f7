"""Who acts: the role and identity behind a request, as the ledger and the log see it.

>>> from ledger_service.actor import Actor
>>> Actor("store", "tok_7f3a", store_id="S1").to_event()
{'role': 'store', 'id': 'tok_7f3a'}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["hq", "store", "auditor", "system", "customer"]
ROLES: tuple[Role, ...] = ("hq", "store", "auditor", "system", "customer")


@dataclass(frozen=True)
class Actor:
    """An authenticated caller. ``id`` names a token or a system job, never a person."""

    role: Role
    id: str
    store_id: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}, want one of {', '.join(ROLES)}")
        if (self.role == "store") != (self.store_id is not None):
            raise ValueError("a store actor needs a store_id, and only a store actor has one")

    def to_event(self) -> dict[str, str]:
        """The event's ``actor`` member: role and id, no personal data."""
        return {"role": self.role, "id": self.id}


SYSTEM = Actor("system", "cardtrail")
"""The actor of jobs the service runs itself (expiry, imports from the CLI)."""

CUSTOMER = Actor("customer", "card")
"""The holder of a card acting with its number and code (the customer API): no token, no
name; the code it showed is its authority."""
