"""Helpers for the chain tests: an in-process chain (eth-tester) and a funded key."""

from __future__ import annotations

from eth_account import Account
from eth_tester import EthereumTester
from web3 import EthereumTesterProvider, Web3

from anchoring.keys import AnchorKey


def inprocess_chain() -> tuple[EthereumTester, Web3]:
    """A fresh in-process chain and a Web3 on it."""
    tester = EthereumTester()
    return tester, Web3(EthereumTesterProvider(tester))


def funded_key(w3: Web3, wei: int = 10**20) -> AnchorKey:
    """A new key holding ``wei`` on ``w3``'s chain (from the tester's prefunded account)."""
    key = AnchorKey(Account.create())
    fund(w3, key.address, wei)
    return key


def fund(w3: Web3, address: str, wei: int = 10**20) -> None:
    """Send ``wei`` to ``address`` from the tester's first account."""
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": wei})
