"""Response models of the public and auditor JSON routes, for the OpenAPI document.

The routes build their answers directly; these models only describe them (the members
listed are always present, more may follow), the way :mod:`ledger_service.schemas` does
for the merchant API.
"""

from __future__ import annotations

from typing import Any

from ledger_service.schemas import Reply


class PublicCardEvent(Reply):
    """One event of a card as anyone holding the number sees it: no holder data."""

    seq: int
    leaf_index: int
    type: str
    occurred_at: str
    store_id: str | None
    store_name: str | None
    pending: bool


class PublicCheckpoint(Reply):
    """The anchored checkpoint the card's proven events lead to."""

    tree_size: int
    root: str
    chain_id: int
    contract: str


class PublicCard(Reply):
    """A card's status and story. ``status``: unused, used, blocked, voided or expired."""

    card_number: str
    status: str
    events: list[PublicCardEvent]
    checkpoint: PublicCheckpoint | None


class BundleCheckpoint(Reply):
    """Where the bundle's root was anchored."""

    tree_size: int
    root: str
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int


class BundleEvent(Reply):
    """An event (the exact object whose RFC 8785 JSON is the leaf) and its inclusion proof."""

    leaf_index: int
    event: dict[str, Any]
    inclusion_proof: list[str]


class PendingEvent(Reply):
    """An event recorded after the checkpoint: not proven yet."""

    leaf_index: int
    event: dict[str, Any]


class ProofBundle(Reply):
    """A ``cardtrail-bundle/1`` document (docs/bundle-format.md)."""

    format: str
    card_number: str
    card_salt: str
    checkpoint: BundleCheckpoint | None
    events: list[BundleEvent]
    pending: list[PendingEvent]


class ChainInfo(Reply):
    """The chain and contract this log is anchored to, and the RPC URL browsers are told."""

    chain_id: int | None
    contract: str | None
    rpc_url: str


class AnchoredCheckpointInfo(Reply):
    """A checkpoint anchored on chain by one ``anchor`` transaction."""

    tree_size: int
    root: str
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    block_hash: str


class CheckpointList(Reply):
    """One page of the current deployment's checkpoints still valid on chain, smallest first.

    ``next`` is the (relative) URL of the following page, null on the last one.
    """

    checkpoints: list[AnchoredCheckpointInfo]
    next: str | None


class LeafPage(Reply):
    """Leaves ``[start, end)`` of the log: each the base64 (RFC 4648, padded) of its leaf
    input, exactly the bytes hashed as ``SHA-256(0x00 || input)``.

    ``tree_size`` is the log's size when read (leaves past the last anchored checkpoint
    included); ``next`` is the (relative) URL of the following page, null at the log's end.
    """

    start: int
    end: int
    tree_size: int
    leaves: list[str]
    next: str | None


class InclusionProofReply(Reply):
    """RFC 9162 inclusion proof of one leaf in the tree of ``tree_size`` leaves."""

    leaf_index: int
    tree_size: int
    leaf_hash: str
    proof: list[str]
    root: str


class ConsistencyProofReply(Reply):
    """RFC 9162 consistency proof from the tree of ``first`` leaves to that of ``second``."""

    first: int
    second: int
    proof: list[str]
    first_root: str
    second_root: str
