"""A store's counter client that keeps working when the CardTrail service is out of reach.

Every redemption is signed with the store device's key (:mod:`store_client.device`), written
to a local queue (:mod:`store_client.queue`: SQLite, synchronous commits, so nothing
acknowledged is lost in a crash) and then sent through ``POST /api/v1/sync``
(:mod:`store_client.sync`). When the service cannot be reached the command simply stays
queued; the next sync sends everything waiting, oldest first. The service decides each
command once per client id, so re-sending after a lost answer is always safe; a card that
was used elsewhere in the meantime comes back refused with its reason.

A pickup is handed over against the customer's rotating code: ``pickups`` fetches the
store's ready pickups with each one's code secret while online, so that the counter checks
the code offline and queues the signed completion (with the bottle serials) like a
redemption; the service checks the code again, at the signing time, when it syncs.

A device signs for one deployment only (the chain id and LedgerAnchor contract in the
EIP-712 domain). It learns them from the service's ``GET /api/v1/chain`` on first contact
and keeps them in its queue; from then on it checks the service before every sync and
sends nothing (no card number, no redemption code) to a service of another deployment.
A device that has never reached its service cannot sign, so run ``sync`` once online.

The command line is ``cardtrail store-client`` (:mod:`store_client.cli`). This package runs
at a shop, not on the server: it uses the ledger's signing code and card numbers, and
nothing but the CLI assembly imports it.

    >>> from store_client import DeviceKey
    >>> DeviceKey(bytes([21] * 32)).address.startswith("0x")
    True
"""

from __future__ import annotations

from store_client.device import DeviceKey, create_keystore, load_config, load_key
from store_client.errors import Offline, StoreClientError
from store_client.queue import Queue, QueuedItem
from store_client.sync import StoreClient, SyncReport, Transport, http_request

__all__ = [
    "DeviceKey",
    "Offline",
    "Queue",
    "QueuedItem",
    "StoreClient",
    "StoreClientError",
    "SyncReport",
    "Transport",
    "create_keystore",
    "http_request",
    "load_config",
    "load_key",
]
