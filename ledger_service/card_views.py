"""What each role may read of a card, applied where a merchant view leaves the server.

:meth:`Ledger.get_card <ledger_service.service.Ledger.get_card>` builds the merchant's
full view; the API and the console pass it through :func:`card_for` before answering:

* ``hq`` reads everything: it runs the programme and its customer references;
* ``auditor`` reads everything but the personal references — the holder reference and
  the pickups' delivery address reference. Checking the ledger needs neither: the events
  carry the holder's keyed tag, so changes of holder remain visible;
* ``store`` reads what its counter needs — as the auditor, and only the pickups at its
  own store (another store's pickups and every delivery are none of its business).

    >>> from ledger_service.actor import Actor
    >>> card = {"card_number": "N", "holder_ref": "crm-7", "pickups": [
    ...     {"store_id": "S1", "address_ref": None}, {"store_id": "S2", "address_ref": None},
    ...     {"store_id": None, "address_ref": "addr-1"}]}
    >>> card_for(Actor("store", "tok_a", store_id="S1"), card)
    {'card_number': 'N', 'pickups': [{'store_id': 'S1'}]}
    >>> len(card_for(Actor("auditor", "tok_b"), card)["pickups"])
    3
    >>> card_for(Actor("hq", "tok_c"), card) is card
    True

:func:`dated` adds whether the card is past its date — expired for every command and page,
though the expiry job may not have written its EXPIRED event yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ledger_service.actor import Actor, Role
from ledger_service.domain.expiry_dates import shown_state

PERSONAL_READERS: tuple[Role, ...] = ("hq",)
"""Roles that read the holder and delivery address references."""
PERSONAL_FIELDS = ("holder_ref",)
PERSONAL_PICKUP_FIELDS = ("address_ref",)


def card_for(actor: Actor, card: dict[str, Any]) -> dict[str, Any]:
    """``card`` (the merchant view of ``Ledger.get_card``) as ``actor`` may read it."""
    if actor.role in PERSONAL_READERS:
        return card
    pickups = [
        {k: v for k, v in pickup.items() if k not in PERSONAL_PICKUP_FIELDS}
        for pickup in card.get("pickups", ())
        if actor.role != "store" or pickup["store_id"] == actor.store_id
    ]
    return {
        **{k: v for k, v in card.items() if k not in PERSONAL_FIELDS},
        "pickups": pickups,
    }


def dated(card: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``card`` (a merchant view) with ``expired_by_date``: true when its date has passed
    at ``now`` and the expiry job would expire it, whether or not it has run yet.

    >>> view = {"state": "CLAIMED", "expires_at": "2026-12-01T00:00:00.000Z"}
    >>> from datetime import UTC
    >>> dated(view, datetime(2026, 12, 2, tzinfo=UTC))["expired_by_date"]
    True
    >>> dated(view, datetime(2026, 11, 30, tzinfo=UTC))["expired_by_date"]
    False
    """
    raw = card.get("expires_at")
    expires_at = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None
    shown = shown_state(card["state"], expires_at, now, card.get("blocked_from"))
    return {**card, "expired_by_date": shown != card["state"]}
