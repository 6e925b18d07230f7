"""The card ledger: one method per command, one database transaction per accepted command.

Every command runs the same way (:mod:`.transaction`): in the caller's unit of work or one
of its own, take the log head (which serialises writers), read the card, let
:func:`ledger_service.domain.lifecycle.decide` accept or refuse, then update the card, add
its ``events`` row and append exactly one leaf to the log. A refusal rolls the command
back to its savepoint, so nothing of it reaches the log; what the refusal should still
leave behind (a wrong-code failure, an anomaly for the console, :mod:`.traces`) is
written in the same transaction and commits with it.

The areas, one module each: :mod:`.store_commands`, :mod:`.stock`, :mod:`.products`,
:mod:`.channels`, :mod:`.issuance`, :mod:`.activation`, :mod:`.admin` (headquarters'
actions with their record), :mod:`.card_commands`, :mod:`.value_commands`,
:mod:`.pickup_commands`, :mod:`.gift_commands`, :mod:`.expiry` and :mod:`.reads`;
:class:`Ledger` puts them together.

    >>> import tempfile
    >>> from anchoring.db import create_engine
    >>> from ledger_service import db
    >>> from ledger_service.actor import Actor
    >>> engine = create_engine(f"sqlite:///{tempfile.mkdtemp()}/doc.db")
    >>> db.upgrade(engine)
    >>> ledger, hq = Ledger(engine, bytes(32)), Actor("hq", "tok_doc")
    >>> issued = ledger.issue_cards(hq, "B1", [{"product": "Tea 250g"}], active=True)["cards"][0]
    >>> ledger.redeem(hq, issued["card_number"], issued["redemption_code"])["state"]
    'REDEEMED'
"""

from __future__ import annotations

from ledger_service.service.activation import Activation
from ledger_service.service.admin import AdminActions
from ledger_service.service.card_commands import CardCommands
from ledger_service.service.channels import ChannelCommands
from ledger_service.service.expiry import EXPIRY_BATCH, Expiry
from ledger_service.service.gift_commands import GiftCommands
from ledger_service.service.issuance import MAX_BATCH, Issuance
from ledger_service.service.pickup_commands import PickupCommands
from ledger_service.service.products import ProductCommands
from ledger_service.service.reads import CardHistory, CardReads, HistoryEvent, read_card_history
from ledger_service.service.stock import StockCommands
from ledger_service.service.store_commands import StoreCommands
from ledger_service.service.traces import ANOMALY_KINDS, BURST_WINDOW, REDEMPTION_BURST
from ledger_service.service.value_commands import ValueCommands

__all__ = [
    "ANOMALY_KINDS",
    "BURST_WINDOW",
    "EXPIRY_BATCH",
    "MAX_BATCH",
    "REDEMPTION_BURST",
    "CardHistory",
    "HistoryEvent",
    "Ledger",
    "read_card_history",
]


class Ledger(
    StoreCommands,
    StockCommands,
    ProductCommands,
    ChannelCommands,
    Issuance,
    Activation,
    AdminActions,
    CardCommands,
    ValueCommands,
    PickupCommands,
    GiftCommands,
    Expiry,
    CardReads,
):
    """The card ledger on one database. Thread-safe: every call uses its own connection.

    ``Ledger(engine, secret_key, clock=utc_now, *, require_signatures=False,
    group_commit_ms=0)``: the secret keys redemption codes and holder tags (at least 32
    bytes); ``require_signatures`` makes store tokens sign their commands with a device
    key; ``group_commit_ms`` > 0 lets concurrent commands share commits (:mod:`.sequencer`).
    """
