"""Monitoring a deployment from public data: every anchored root recomputed from the leaves.

A monitor trusts neither the server nor its database. It reads the contract's
``CheckpointAnchored`` logs (any RPC endpoint of the chain), fetches the leaf inputs the
server publishes (``GET /api/v1/log/leaves``), hashes them itself and checks, for every
anchored checkpoint in order:

* the log names the root the contract stores (``rootAt(tree_size)``);
* the leaves served, appended to those already checked, give exactly that root — one leaf
  changed, dropped or reordered anywhere gives another root;
* the server's consistency proof from the previous checkpoint verifies (auditors rely on
  those proofs; the roots themselves are consistent by construction, being recomputed
  from one growing sequence of leaves);
* every leaf passes the leaf hooks (:data:`LeafHook`): an event names its own position,
  and each ``CARD_MAP`` leaf holds the card map of the events before it
  (:class:`CardMapReplay`, which folds every event from the first).

What carries over between runs (:mod:`anchoring.monitor_state`) is the tree size, its root,
the Merkle frontier (one hash per set bit of the size, at most 64), the last block read
(it is read again: a checkpoint already checked is recognised) and the card map replayed
up to that tree size — so a monitor resumes without fetching old leaves again, and checks
the new ones exactly as a run from leaf 0 would. This module is pure apart from the
callables it is given; :mod:`anchoring.monitor_cli` wires them to HTTP and JSON-RPC.

    >>> replay = CardMapReplay()
    >>> replay(0, b'{"card":"' + b"ab" * 32 + b'","leaf_index":0,"seq":0}') is None
    True
    >>> CardMapReplay.resumed(replay.saved()).changes == replay.changes
    True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from anchoring import merkle
from anchoring.cardmap import CardHead, MemoryCardMap, pack_entries, sorted_entries, unpack_entries
from anchoring.cardmap_leaf import card_key, is_map_leaf, parse_leaf, parse_map_leaf
from anchoring.chain import AnchorEvent
from anchoring.errors import LogIntegrityError, MapProofShapeError, VerificationError
from anchoring.monitor_state import Frontier, MonitorError, MonitorState, SavedMap


@dataclass(frozen=True)
class Divergence:
    """The first thing found that the public data does not agree on, in words."""

    tree_size: int
    what: str

    def __str__(self) -> str:
        return self.what


class Diverged(Exception):  # noqa: N818 — it is an outcome, raised to stop the walk
    """Raised inside the walk at the first divergence; carries it."""

    def __init__(self, divergence: Divergence) -> None:
        super().__init__(str(divergence))
        self.divergence = divergence


LeafHook = Callable[[int, bytes], str | None]
"""Called with ``(leaf_index, leaf input)`` for every leaf in log order; returns why the
leaf is wrong, or None. A hook may keep its own state (the card map hook folds events)."""

LeafPages = Callable[[int, int], Iterable[Sequence[bytes]]]
"""Yields the leaf inputs ``[start, end)`` in pages, in order, as the server serves them."""

ConsistencyProof = Callable[[int, int], Sequence[bytes]]
"""The server's consistency proof between two tree sizes."""

RootAt = Callable[[int], bytes]
"""The contract's ``rootAt(tree_size)``."""

Progress = Callable[[int, int, int], None]
"""Told ``(leaves checked, tree size being reached, checkpoints checked)`` as work goes."""


def event_position_hook(index: int, leaf: bytes) -> str | None:
    """A leaf that is a JSON object with a ``leaf_index`` must name its own position."""
    try:
        value = json.loads(leaf)
    except (UnicodeDecodeError, ValueError):
        return f"leaf {index} is not JSON"
    if isinstance(value, dict) and "leaf_index" in value and value["leaf_index"] != index:
        return f"leaf {index} says it is leaf {value['leaf_index']!r}"
    return None


class CardMapReplay:
    """A leaf hook that folds every event into a card map and checks each ``CARD_MAP`` leaf.

    A ``CARD_MAP`` leaf must hold the root of the map of every event before it, the number
    of cards in that map and of cards changed since the previous map leaf, and its own
    position as its ``tree_size`` (docs/card-map.md). A server that anchored a map hiding
    a card's latest event anchored a wrong root here, which the chain alone cannot show.

        >>> from anchoring.cardmap_leaf import map_leaf_input
        >>> replay = CardMapReplay()
        >>> event = b'{"card":"' + b"ab" * 32 + b'","leaf_index":0,"seq":0}'
        >>> replay(0, event) is None
        True
        >>> replay(1, b'{"type":"CARD_MAP","leaf_index":1,"tree_size":1,"map_root":"00"}')
        'leaf 1: not a CARD_MAP leaf'
    """

    def __init__(self) -> None:
        self.map = MemoryCardMap()
        self.changes: dict[bytes, bytes] = {}

    def saved(self) -> SavedMap:
        """The replay's state, to resume from at the tree size it has folded up to."""
        return SavedMap(
            self.map.root,
            pack_entries(self.map.items()),
            pack_entries(sorted_entries(self.changes)),
        )

    @classmethod
    def resumed(cls, saved: SavedMap) -> CardMapReplay:
        """The replay :meth:`saved` saved; MonitorError if its entries do not give its map
        root (a damaged file must not pass for the map it claims to be)."""
        replay = cls()
        try:
            entries = unpack_entries(saved.entries)
            replay.changes = unpack_entries(saved.pending)
            root = replay.map.update(entries)
        except MapProofShapeError as exc:
            raise MonitorError(f"saved card map: {exc}") from None
        if root != saved.map_root:
            raise MonitorError(
                f"saved card map: its {len(entries)} entries give map root {root.hex()}, "
                f"not the {saved.map_root.hex()} it was saved with"
            )
        return replay

    def __call__(self, index: int, leaf: bytes) -> str | None:
        try:
            event = parse_leaf(leaf)
            if not is_map_leaf(event):
                seq = event.get("seq")
                if isinstance(seq, bool) or not isinstance(seq, int):
                    return f"leaf {index} has no integer seq"
                head = CardHead(seq, index, merkle.hash_leaf(leaf))
                self.changes[card_key(event)] = head.encode()
                return None
            found = parse_map_leaf(leaf)
        except LogIntegrityError as exc:
            return f"leaf {index}: {exc}"
        changed = len(self.changes)
        root = self.map.update(self.changes)
        self.changes = {}
        expected = {
            "tree_size": index,
            "map_root": root.hex(),
            "cards": self.map.size,
            "changed": changed,
        }
        for member, value in expected.items():
            if found[member] != value:
                return (
                    f"CARD_MAP leaf {index}: {member} is {found[member]!r}, but the events "
                    f"before it give {value!r}"
                )
        return None


@dataclass
class Monitor:
    """Checks anchored checkpoints in order from a :class:`MonitorState` on."""

    state: MonitorState
    leaf_pages: LeafPages
    consistency_proof: ConsistencyProof
    root_at: RootAt
    hooks: Sequence[LeafHook] = (event_position_hook,)
    progress: Progress | None = None
    checkpointed: Callable[[MonitorState], None] | None = None
    """Called after each checkpoint that holds, with the hooks at its tree size (the CLI
    saves the state there, at most once a minute)."""

    def check(self, anchored: Iterable[AnchorEvent]) -> Divergence | None:
        """Check each anchored checkpoint (in chain order); the first divergence, or None.

        The state moves past each checkpoint that holds, so that it can be saved after
        every one (the caller's ``progress``) and a later run resumes there.
        """
        try:
            for event in anchored:
                self._checkpoint(event)
        except Diverged as diverged:
            return diverged.divergence
        return None

    def _fail(self, size: int, what: str) -> None:
        raise Diverged(Divergence(size, what))

    def _checkpoint(self, event: AnchorEvent) -> None:
        size, root = event.checkpoint.tree_size, event.checkpoint.root
        where = f"size {size} (block {event.block_number}, tx {event.tx_hash})"
        state = self.state
        if size <= state.tree_size:
            if size == state.tree_size and root == state.root:
                return  # seen already: a resumed run reads its last block again
            self._fail(
                size,
                f"the contract anchored {where} after size {state.tree_size}: "
                "tree sizes must only grow",
            )
        stored = self.root_at(size)
        if stored != root:
            self._fail(
                size,
                f"the CheckpointAnchored log says root {root.hex()} for {where}, "
                f"the contract's rootAt({size}) says {stored.hex()}",
            )
        previous = (state.tree_size, state.root)
        frontier = Frontier(state.frontier.size, state.frontier.hashes)
        self._append_leaves(frontier, size, where)
        computed = frontier.root()
        if computed != root:
            changed = f"a leaf in [{previous[0]}, {size}) was changed, dropped or reordered"
            if previous[0] > 0:
                # The leaves before previous[0] are not read again; the anchored tree may
                # cover one changed since it was checked.
                changed += (
                    " since it was anchored, or the tree anchored does not extend the tree "
                    f"of size {previous[0]} checked before (a leaf before {previous[0]} changed)"
                )
            else:
                changed += " since it was anchored"
            self._fail(
                size,
                f"the contract anchored root {root.hex()} for {where}, but the leaves the "
                f"server publishes give {computed.hex()}: {changed}",
            )
        if previous[0] > 0:
            self._check_consistency(previous, size, root, where)
        state.frontier, state.root = frontier, root
        state.last_block = max(state.last_block, event.block_number)
        state.checkpoints += 1
        if self.checkpointed is not None:
            self.checkpointed(state)

    def _append_leaves(self, frontier: Frontier, size: int, where: str) -> None:
        start = frontier.size
        for page in self.leaf_pages(start, size):
            for leaf in page:
                index = frontier.size
                if index >= size:
                    self._fail(size, f"the server sent more leaves than asked up to {where}")
                for hook in self.hooks:
                    problem = hook(index, leaf)
                    if problem:
                        self._fail(size, f"{problem} (checking {where})")
                frontier.append(merkle.hash_leaf(leaf))
            if self.progress is not None:
                self.progress(frontier.size, size, self.state.checkpoints)
        if frontier.size < size:
            self._fail(
                size,
                f"the server publishes {frontier.size} leaves, but the contract anchored {where}",
            )

    def _check_consistency(
        self, previous: tuple[int, bytes], size: int, root: bytes, where: str
    ) -> None:
        try:
            proof = self.consistency_proof(previous[0], size)
            merkle.verify_consistency(previous[0], size, previous[1], root, list(proof))
        except VerificationError as exc:
            self._fail(
                size,
                f"the server's consistency proof from size {previous[0]} to {where} "
                f"does not verify: {exc}",
            )
