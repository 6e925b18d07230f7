"""Helpers for the monitor tests: a server's log of card events and CARD_MAP leaves, and a
chain that anchors it, both in memory and counting what the monitor reads."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from anchoring import merkle
from anchoring.cardmap import CardHead, map_root
from anchoring.cardmap_leaf import map_leaf_input
from anchoring.chain import AnchorEvent
from anchoring.types import Checkpoint

CONTRACT = "0x" + "ab" * 20
CHAIN_ID = 31337
PAGE = 4


def card(number: int) -> bytes:
    """The map key of test card ``number``."""
    return number.to_bytes(32, "big")


class ServedLog:
    """The server's side: events appended one by one, a CARD_MAP leaf to close each batch,
    leaves served in pages of PAGE; ``leaves_served`` counts what the monitor fetched."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.heads: dict[bytes, bytes] = {}
        self.changed: set[bytes] = set()
        self.leaves_served = 0
        self.requests: list[tuple[int, int]] = []

    def events(self, *cards: int) -> None:
        """Append one event for each card, each the card's next ``seq``."""
        for number in cards:
            key = card(number)
            seq = CardHead.decode(self.heads[key]).seq + 1 if key in self.heads else 0
            index = len(self.leaves)
            leaf = json.dumps(
                {"card": key.hex(), "leaf_index": index, "seq": seq, "type": "ISSUED"}
            ).encode()
            self.leaves.append(leaf)
            self.heads[key] = CardHead(seq, index, merkle.hash_leaf(leaf)).encode()
            self.changed.add(key)

    def close_map(self, heads: dict[bytes, bytes] | None = None) -> int:
        """Append the CARD_MAP leaf of the events so far (or of other ``heads``: a lie)."""
        index = len(self.leaves)
        root = map_root(self.heads if heads is None else heads)
        leaf = map_leaf_input(
            index, root, len(self.heads), len(self.changed), datetime(2026, 12, 2, tzinfo=UTC)
        )
        self.leaves.append(leaf)
        self.changed = set()
        return index

    def leaf_pages(self, start: int, end: int) -> Iterator[Sequence[bytes]]:
        """Leaves ``[start, end)`` in pages, as ``GET /api/v1/log/leaves`` serves them."""
        self.requests.append((start, end))
        for low in range(start, min(end, len(self.leaves)), PAGE):
            page = self.leaves[low : min(low + PAGE, end)]
            self.leaves_served += len(page)
            yield page

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The proof from ``first`` to ``second`` over the leaves as served now."""
        hashes = [merkle.hash_leaf(leaf) for leaf in self.leaves[:second]]
        return merkle.consistency_proof(hashes, first)


class AnchoringChain:
    """The contract's side: each anchor is a CheckpointAnchored log in a block of its own."""

    def __init__(self, log: ServedLog) -> None:
        self.log = log
        self.anchors: list[AnchorEvent] = []

    def anchor(self) -> int:
        """Anchor the log's root as served now; the tree size."""
        size = len(self.log.leaves)
        root = merkle.root([merkle.hash_leaf(leaf) for leaf in self.log.leaves])
        block = len(self.anchors) + 1
        self.anchors.append(AnchorEvent(Checkpoint(size, root), 0, f"0x{block:064x}", block, "0x"))
        return size

    def chain_id(self) -> int:
        """The test chain's id."""
        return CHAIN_ID

    def block_number(self) -> int:
        """The block of the last anchor."""
        return len(self.anchors)

    def root_at(self, tree_size: int) -> bytes:
        """The root anchored for ``tree_size``, zeros if none."""
        found = [a.checkpoint.root for a in self.anchors if a.checkpoint.tree_size == tree_size]
        return found[-1] if found else bytes(32)

    def anchored_events(self, from_block: int, to_block: int) -> list[AnchorEvent]:
        """The anchors mined in ``from_block``..``to_block``."""
        return [a for a in self.anchors if from_block <= a.block_number <= to_block]
