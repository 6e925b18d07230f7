"""The chain client on an in-process chain (eth-tester), and its pure fee rules."""

from __future__ import annotations

import pytest
from chainkit import funded_key, inprocess_chain

from anchoring import merkle
from anchoring.chain import (
    AnchorClient,
    AnchorReader,
    AnchorRejected,
    Fees,
    deploy,
    suggest_fees,
)
from anchoring.errors import ChainUnavailable, ContractMissing
from anchoring.node import free_port
from anchoring.types import Checkpoint

LEAVES = [merkle.hash_leaf(f"event {i}".encode()) for i in range(8)]


def head(size: int) -> Checkpoint:
    return Checkpoint(size, merkle.root(LEAVES[:size]))


@pytest.fixture(scope="module")
def deployed():
    _, w3 = inprocess_chain()
    key = funded_key(w3)
    return w3, key, deploy(w3, key)


@pytest.fixture
def client():
    _, w3 = inprocess_chain()
    key = funded_key(w3)
    return AnchorClient(w3, deploy(w3, key).contract, key)


def anchor(client: AnchorClient, checkpoint: Checkpoint, proof=()):
    signed = client.sign_anchor(
        checkpoint, list(proof), client.confirmed_nonce(), client.suggested_fees()
    )
    client.send(signed)
    return signed, client.receipt(signed.tx_hash)


# --- fees (pure) -------------------------------------------------------------------------


def test_fees_with_a_base_fee_are_eip1559_with_room_for_rising_base_fees():
    fees = suggest_fees(base_fee=100, priority_fee=7, gas_price=150)
    assert fees == Fees(max_fee_per_gas=207, max_priority_fee_per_gas=7)
    assert fees.tx_fields() == {"maxFeePerGas": 207, "maxPriorityFeePerGas": 7}


def test_fees_without_a_base_fee_fall_back_to_a_legacy_gas_price():
    fees = suggest_fees(base_fee=None, priority_fee=None, gas_price=150)
    assert not fees.eip1559
    assert fees.tx_fields() == {"gasPrice": 150}


@pytest.mark.parametrize(
    "fees", [Fees(), Fees(max_fee_per_gas=10), Fees(max_fee_per_gas=10, gas_price=5)]
)
def test_an_incomplete_fee_offer_is_refused_rather_than_sent(fees):
    with pytest.raises(ValueError, match="incomplete fee offer"):
        fees.tx_fields()


def test_missing_priority_fee_suggestion_uses_one_gwei():
    assert suggest_fees(10, None, 0).max_priority_fee_per_gas == 10**9


@pytest.mark.parametrize(
    "fees",
    [
        Fees(max_fee_per_gas=1000, max_priority_fee_per_gas=100),
        Fees(gas_price=1000),
        Fees(gas_price=1),
    ],
)
def test_a_bumped_replacement_pays_at_least_ten_percent_more_on_every_price(fees):
    bumped = fees.bumped()
    for old, new in zip(
        (fees.max_fee_per_gas, fees.max_priority_fee_per_gas, fees.gas_price),
        (bumped.max_fee_per_gas, bumped.max_priority_fee_per_gas, bumped.gas_price),
        strict=True,
    ):
        assert (old is None) == (new is None)
        if old is not None:
            assert new >= old * 1.1 and new > old


def test_at_least_takes_the_higher_price_of_each_kind():
    low = Fees(max_fee_per_gas=10, max_priority_fee_per_gas=5)
    high = Fees(max_fee_per_gas=8, max_priority_fee_per_gas=9)
    assert low.at_least(high) == Fees(max_fee_per_gas=10, max_priority_fee_per_gas=9)


# --- reader ------------------------------------------------------------------------------


def test_a_fresh_contract_has_no_checkpoint_and_zero_roots(deployed):
    w3, _, result = deployed
    reader = AnchorReader(w3, result.contract)
    assert reader.chain_id() == w3.eth.chain_id
    assert reader.latest_checkpoint().tree_size == 0
    assert reader.root_at(5) == bytes(32)
    assert reader.has_anchorer_role(result.deployer)


def test_an_address_without_code_is_a_missing_contract(deployed):
    w3, _, _ = deployed
    with pytest.raises(ContractMissing, match="no contract code"):
        AnchorReader(w3, "0x" + "12" * 20).root_at(1)


def test_an_unreachable_node_is_chain_unavailable():
    reader = AnchorReader(f"http://127.0.0.1:{free_port()}", "0x" + "12" * 20)
    with pytest.raises(ChainUnavailable, match="eth_chainId"):
        reader.chain_id()


# --- client ------------------------------------------------------------------------------


def test_anchors_are_read_back_by_root_latest_checkpoint_and_events(client):
    _, first = anchor(client, head(3))
    consistency = merkle.consistency_proof(LEAVES[:7], 3)
    _, second = anchor(client, head(7), consistency)
    assert first.succeeded and second.succeeded
    assert client.latest_checkpoint() == head(7)
    assert client.root_at(3) == head(3).root
    assert client.root_at(5) == bytes(32)
    events = client.anchored_events(0)
    assert [(e.checkpoint, e.index, e.block_hash) for e in events] == [
        (head(3), 0, first.block_hash),
        (head(7), 1, second.block_hash),
    ]
    assert client.anchored_events(0, tree_size=7)[0].tx_hash == second.tx_hash


def test_a_refused_anchor_is_rejected_before_anything_is_sent(client):
    anchor(client, head(3))
    nonce = client.confirmed_nonce()
    with pytest.raises(AnchorRejected) as info:
        client.sign_anchor(head(3), [], nonce, client.suggested_fees())
    assert info.value.error_name == "LedgerAnchorTreeSizeNotIncreasing"
    assert client.confirmed_nonce() == nonce


def test_signing_uses_the_given_nonce_and_fees(client):
    fees = Fees(max_fee_per_gas=5 * 10**9, max_priority_fee_per_gas=2 * 10**9)
    nonce = client.confirmed_nonce()
    signed = client.sign_anchor(head(2), [], nonce, fees)
    client.send(signed)
    tx = client.w3.eth.get_transaction(signed.tx_hash)
    assert (tx["nonce"], tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]) == (
        nonce,
        fees.max_fee_per_gas,
        fees.max_priority_fee_per_gas,
    )
    assert client.receipt(signed.tx_hash).succeeded
    assert client.is_known(signed.tx_hash)
    assert not client.is_known("0x" + "00" * 32)


def test_reprs_name_the_account_but_hold_no_secret(client):
    signed = client.sign_anchor(head(1), [], client.confirmed_nonce(), client.suggested_fees())
    secret = client.key._account.key.hex().removeprefix("0x")
    for text in (repr(client), repr(signed)):
        assert secret not in text
        assert signed.raw.hex() not in text
    assert client.key.address in repr(client)
