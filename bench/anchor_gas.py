"""Gas of ``LedgerAnchor.anchor()`` by log size, on the in-process EVM (eth-tester, py-evm).

For each size n, a checkpoint of about half the size is anchored first, then the anchor of
n with its consistency proof (about log2(n) hashes, checked on chain) is measured. The
figures are the EVM's exact gas accounting, transaction base cost and calldata included:
one run is the figure, there is nothing to average. The anchoring section of
``python -m bench`` and ``make gas-report`` (``scripts/gas_report.py``) both use it.

Hashing ten million leaves is not needed: in a log whose leaves are all the same, every
complete subtree of one height has the same hash, so any root or proof range folds
together from one hash per height in O(log² n). Roots and proofs built that way are
checked with the Python verifier before they are sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from web3 import EthereumTesterProvider, Web3

from anchoring import contract, merkle

SIZES = [10**k for k in range(1, 8)]
"""10 to 10,000,000 leaves."""


class UniformTree:
    """An RFC 9162 tree of any size whose leaves all have the same hash."""

    def __init__(self, leaf_hash: bytes) -> None:
        self._heights = [leaf_hash]

    def _subtree(self, height: int) -> bytes:
        while len(self._heights) <= height:
            below = self._heights[-1]
            self._heights.append(merkle.hash_children(below, below))
        return self._heights[height]

    def range_hash(self, start: int, end: int) -> bytes:
        """The hash of leaves ``[start, end)``, for ranges that RFC 9162 proofs use."""
        return merkle.fold_subtrees(
            [self._subtree(height) for height, _ in merkle.perfect_subtrees(start, end)]
        )

    def root(self, size: int) -> bytes:
        """The root of the first ``size`` leaves."""
        return self.range_hash(0, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """The RFC 9162 consistency proof from ``size1`` leaves to ``size2`` leaves."""
        return [self.range_hash(a, b) for a, b in merkle.consistency_proof_ranges(size1, size2)]


@dataclass(frozen=True)
class Row:
    """One measured anchor: from ``from_size`` to ``tree_size`` with ``proof_hashes``."""

    tree_size: int
    from_size: int
    proof_hashes: int
    gas_used: int


def previous_size(size: int) -> int:
    """The size of the checkpoint anchored before ``size``: a little over half of it, so
    that the proof is as long as a proof across half the log gets."""
    return size // 2 + 1


def measure(sizes: Sequence[int]) -> list[Row]:
    """Deploy LedgerAnchor on a fresh in-process chain and measure one anchor per size."""
    w3 = Web3(EthereumTesterProvider())
    sender = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=contract.ABI, bytecode=contract.BYTECODE)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": sender}))
    anchor = w3.eth.contract(address=receipt.contractAddress, abi=contract.ABI).functions.anchor
    tree = UniformTree(merkle.hash_leaf(b"cardtrail gas report"))

    def send(call) -> int:
        tx_receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
        if tx_receipt.status != 1:
            raise RuntimeError("anchor() reverted")
        return tx_receipt.gasUsed

    rows = []
    for size in sizes:
        size1 = previous_size(size)
        root1, root2 = tree.root(size1), tree.root(size)
        proof = tree.consistency_proof(size1, size)
        merkle.verify_consistency(size1, size, root1, root2, proof)
        snapshot = w3.testing.snapshot()
        send(anchor(size1, root1, []))
        rows.append(Row(size, size1, len(proof), send(anchor(size, root2, proof))))
        w3.testing.revert(snapshot)
    return rows
