"""Typed, frozen values for proofs and checkpoints.

Hashes are ``bytes`` inside Python and lowercase hex without ``0x`` in JSON; chain values
(addresses, transaction and block hashes) keep their ``0x``.

    >>> from anchoring import merkle
    >>> from anchoring.types import InclusionProof
    >>> leaves = [merkle.hash_leaf(b"a"), merkle.hash_leaf(b"b")]
    >>> proof = InclusionProof(0, 2, leaves[0], tuple(merkle.inclusion_proof(leaves, 0)))
    >>> proof.verify(merkle.root(leaves))
"""

from __future__ import annotations

from dataclasses import dataclass

from anchoring import merkle
from anchoring.errors import ProofShapeError


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != merkle.HASH_SIZE:
        raise ProofShapeError(f"{what} must be {merkle.HASH_SIZE} bytes, got {len(value)}")


def hex_to_hash(value: str, what: str = "hash") -> bytes:
    """Parse a lowercase-hex hash (no ``0x``) into 32 bytes, or raise ProofShapeError."""
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise ProofShapeError(f"{what} is not hex: {str(value)[:80]!r}") from None
    _check_hash(raw, what)
    return raw


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's size and the Merkle root at that size."""

    tree_size: int
    root: bytes

    def __post_init__(self) -> None:
        if self.tree_size < 0:
            raise ProofShapeError(f"tree size must not be negative, got {self.tree_size}")
        _check_hash(self.root, "root")

    def to_json(self) -> dict[str, object]:
        """The JSON form: ``{"tree_size": n, "root": "<hex>"}``."""
        return {"tree_size": self.tree_size, "root": self.root.hex()}


@dataclass(frozen=True)
class AnchoredCheckpoint:
    """A checkpoint as recorded on chain by one ``anchor`` transaction."""

    checkpoint: Checkpoint
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    block_hash: str

    def to_json(self) -> dict[str, object]:
        """The bundle's ``checkpoint`` object (DESIGN.md), plus the block hash."""
        return {
            **self.checkpoint.to_json(),
            "chain_id": self.chain_id,
            "contract": self.contract,
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "block_hash": self.block_hash,
        }


@dataclass(frozen=True)
class InclusionProof:
    """Proof that ``leaf_hash`` is leaf ``leaf_index`` of the tree of ``tree_size`` leaves."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]

    def root(self) -> bytes:
        """The root this proof leads to; raises ProofShapeError if it is malformed."""
        return merkle.root_from_inclusion_proof(
            self.leaf_index, self.tree_size, self.leaf_hash, self.hashes
        )

    def verify(self, root: bytes) -> None:
        """Return None when the proof leads to ``root``; raise VerificationError otherwise."""
        merkle.verify_inclusion(self.leaf_index, self.tree_size, self.leaf_hash, self.hashes, root)

    def to_json(self) -> dict[str, object]:
        """The API form of the proof."""
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "proof": [h.hex() for h in self.hashes],
        }


@dataclass(frozen=True)
class ConsistencyProof:
    """Proof that the tree of ``size2`` leaves extends the tree of ``size1`` leaves."""

    size1: int
    size2: int
    hashes: tuple[bytes, ...]

    def verify(self, root1: bytes, root2: bytes) -> None:
        """Return None when the proof links ``root1`` to ``root2``; raise otherwise."""
        merkle.verify_consistency(self.size1, self.size2, root1, root2, self.hashes)

    def to_json(self) -> dict[str, object]:
        """The API form of the proof."""
        return {"first": self.size1, "second": self.size2, "proof": [h.hex() for h in self.hashes]}
