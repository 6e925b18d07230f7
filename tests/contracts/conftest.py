"""Layered fixtures for LedgerAnchor on the in-process chain: abi → factory → deployed.

The contract is deployed once per module; ``ledger_anchor`` gives every test the freshly
deployed state by reverting to a chain snapshot afterwards. Tests that run many cases in
one test (hypothesis, vector folders) use ``fresh_state`` the same way.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import eth_abi
import pytest
from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, Web3

from anchoring import contract

# Sending with a fixed gas limit skips eth-tester's gas estimation, which halves the time a
# transaction takes; the limit is far above anything the contract needs.
GAS_LIMIT = 2_000_000


@dataclass(frozen=True)
class Outcome:
    """What happened to one transaction: its receipt and, if it reverted, the custom error
    as ``(name, args)``."""

    receipt: Any
    error: tuple[str, tuple[Any, ...]] | None


def _revert_data(exc: TransactionFailed) -> bytes:
    # eth-tester reports revert data as the repr of a bytes object inside its message.
    message = exc.args[0]
    if isinstance(message, bytes):
        return message
    return ast.literal_eval(str(message).removeprefix("execution reverted: "))


def decode_error(data: bytes) -> tuple[str, tuple[Any, ...]]:
    """Decode LedgerAnchor revert data into ``(error name, args)``."""
    name = contract.error_name(data)
    if name is None:
        raise AssertionError(f"reverted without a LedgerAnchor custom error: 0x{data.hex()}")
    (item,) = [i for i in contract.ABI if i["type"] == "error" and i["name"] == name]
    return name, tuple(eth_abi.decode([i["type"] for i in item["inputs"]], data[4:]))


@pytest.fixture(scope="session")
def abi() -> list[dict[str, Any]]:
    """The contract's ABI from the committed artifact."""
    return contract.ABI


@pytest.fixture(scope="module")
def w3() -> Web3:
    """A fresh in-process chain (eth-tester with py-evm) per test module."""
    return Web3(EthereumTesterProvider())


@pytest.fixture(scope="module")
def deployer(w3) -> str:
    """The account that deploys the contract: admin and anchorer."""
    return w3.eth.accounts[0]


@pytest.fixture(scope="module")
def stranger(w3) -> str:
    """An account that holds no role."""
    return w3.eth.accounts[1]


@pytest.fixture(scope="module")
def factory(w3, abi):
    """A contract factory with the committed creation bytecode."""
    return w3.eth.contract(abi=abi, bytecode=contract.BYTECODE)


@pytest.fixture(scope="module")
def deployed(w3, factory, deployer):
    """One deployment per module, shared through snapshots."""
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": deployer})
    )
    return w3.eth.contract(address=receipt.contractAddress, abi=factory.abi)


@pytest.fixture(scope="module")
def fresh_state(w3, deployed) -> Callable[[], AbstractContextManager[None]]:
    """A context manager: the chain as right after deployment inside, restored on exit."""

    @contextmanager
    def restore() -> Iterator[None]:
        snapshot = w3.testing.snapshot()
        try:
            yield
        finally:
            w3.testing.revert(snapshot)

    return restore


@pytest.fixture
def ledger_anchor(deployed, fresh_state):
    """The freshly deployed contract; whatever the test does is undone afterwards."""
    with fresh_state():
        yield deployed


@pytest.fixture(scope="module")
def attempt(w3) -> Callable[..., Outcome]:
    """Send a contract call as a transaction and report how it ended.

    A call that reverts is still sent, and the test fails unless the transaction fails on
    chain too; the custom error comes from simulating the same call first.
    """

    def send(call, sender: str) -> Outcome:
        try:
            call.call({"from": sender})
            error = None
        except TransactionFailed as exc:
            error = decode_error(_revert_data(exc))
        tx_hash = call.transact({"from": sender, "gas": GAS_LIMIT})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt.status == (1 if error is None else 0), (receipt.status, error)
        return Outcome(receipt, error)

    return send


@pytest.fixture(scope="module")
def transact(attempt) -> Callable[..., Any]:
    """Send a contract call that must succeed; return its receipt."""

    def send(call, sender: str):
        outcome = attempt(call, sender)
        assert outcome.error is None, f"reverted with {outcome.error}"
        return outcome.receipt

    return send
