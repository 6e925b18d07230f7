"""Syncing the queue: an unreachable service leaves every item queued; a redemption is
signed for its amount."""

from __future__ import annotations

import pytest

from ledger_service import devices
from ledger_service.devices import SigningDomain, StoreCommand
from ledger_service.events import utc_now
from store_client.device import DeviceKey
from store_client.errors import Offline, StoreClientError
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


def offline_client(tmp_path) -> StoreClient:
    def down(url, body, headers):
        raise Offline("connection refused")

    queue = Queue(tmp_path / "q.db")
    queue.remember_deployment(HERE, "http://127.0.0.1:9", utc_now())
    key = DeviceKey(bytes([22] * 32))
    return StoreClient(queue, key, "S1", "http://127.0.0.1:9", "tok", transport=down)


def test_a_partial_redemption_is_queued_with_the_amount_its_device_signed(tmp_path):
    client = offline_client(tmp_path)
    client.queue_redemption("23456789ABCDEFGH8", "CODE", 2_500)
    [queued] = client.queue.pending()
    block = queued.item["signature"]
    assert queued.item["amount"] == block["signed_amount"] == 2_500
    cmd = StoreCommand(
        "23456789ABCDEFGH8", "redeem", "S1", "", block["signed_at"], block["client_id"], 2_500
    )
    assert devices.recover_signer(cmd, block["signature"], HERE) == client.key.address


def test_a_pickup_card_redemption_names_no_amount_and_signs_zero(tmp_path):
    client = offline_client(tmp_path)
    client.queue_redemption("23456789ABCDEFGH8", "CODE")
    [queued] = client.queue.pending()
    assert "amount" not in queued.item and queued.item["signature"]["signed_amount"] == 0


@pytest.mark.parametrize("amount", [0, -5, True])
def test_a_redemption_amount_must_be_above_zero(tmp_path, amount):
    with pytest.raises(StoreClientError, match="amount"):
        offline_client(tmp_path).queue_redemption("23456789ABCDEFGH8", "CODE", amount)
