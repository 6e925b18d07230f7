"""Syncing the queue: an unreachable service leaves every item queued."""

from __future__ import annotations

from ledger_service.devices import SigningDomain
from ledger_service.events import utc_now
from store_client.device import DeviceKey
from store_client.errors import Offline
from store_client.queue import Queue
from store_client.sync import StoreClient

HERE = SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")


def test_an_unreachable_service_leaves_items_queued(tmp_path):
    def down(url, body, headers):
        raise Offline("connection refused")

    key = DeviceKey(bytes([21] * 32))
    queue = Queue(tmp_path / "q.db")
    queue.remember_deployment(HERE, "http://127.0.0.1:9", utc_now())
    client = StoreClient(queue, key, "S1", "http://127.0.0.1:9", "tok", transport=down)
    client_id, report = client.redeem("23456789ABCDEFGH8", "CODE")
    assert report.offline and report.pending == 1 and report.results == []
    assert [q.client_id for q in client.queue.pending()] == [client_id]
    assert key.address in repr(client) and "15" * 32 not in repr(key)
