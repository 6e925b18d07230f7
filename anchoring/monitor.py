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
  (:class:`CardMapReplay`, which needs every leaf from the first).

The state between runs is small: the tree size, its root, the Merkle frontier (one hash
per set bit of the size, at most 64) and the last block read (it is read again: a
checkpoint already checked is recognised) — so a monitor resumes
without fetching old leaves again. This module is pure apart from the callables it is
given; :mod:`anchoring.monitor_cli` wires them to HTTP and JSON-RPC.

    >>> frontier = Frontier()
    >>> for leaf in (b"a", b"b", b"c"):
    ...     frontier.append(merkle.hash_leaf(leaf))
    >>> frontier.root() == merkle.root([merkle.hash_leaf(x) for x in (b"a", b"b", b"c")])
    True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from anchoring import merkle
from anchoring.cardmap import CardHead, MemoryCardMap
from anchoring.cardmap_leaf import card_key, is_map_leaf, parse_leaf, parse_map_leaf
from anchoring.chain import AnchorEvent
from anchoring.errors import Error, LogIntegrityError, VerificationError

STATE_FORMAT = "cardtrail-monitor-state/1"
EMPTY_ROOT = merkle.root([])


class MonitorError(Error):
    """The monitor could not run its checks (bad state file, unreachable source)."""


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


class Frontier:
    """The roots of the perfect subtrees a tree of ``size`` leaves splits into, left to
    right: enough to append leaves and compute the root of every size (RFC 9162 trees)."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != bin(size).count("1"):
            raise MonitorError(f"a frontier of size {size} has {bin(size).count('1')} hashes")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash on the right."""
        self.hashes.append(leaf_hash)
        self.size += 1
        # Each trailing 0 bit of the new size is a pair of equal subtrees to merge.
        size = self.size
        while size % 2 == 0:
            right = self.hashes.pop()
            self.hashes[-1] = merkle.hash_children(self.hashes[-1], right)
            size //= 2

    def root(self) -> bytes:
        """The root of the tree of the leaves appended so far."""
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = merkle.hash_children(left, root)
        return root


@dataclass
class MonitorState:
    """Where a monitor stands: the checked tree, its frontier and the next block to read."""

    contract: str
    chain_id: int
    frontier: Frontier = field(default_factory=Frontier)
    root: bytes = EMPTY_ROOT
    last_block: int = 0
    checkpoints: int = 0

    @property
    def tree_size(self) -> int:
        """The size of the last anchored tree checked."""
        return self.frontier.size

    def to_json(self) -> dict[str, Any]:
        """The state file's document."""
        return {
            "format": STATE_FORMAT,
            "contract": self.contract,
            "chain_id": self.chain_id,
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "frontier": [h.hex() for h in self.frontier.hashes],
            "last_block": self.last_block,
            "checkpoints": self.checkpoints,
        }

    @classmethod
    def from_json(cls, raw: Any) -> MonitorState:
        """A state read back; MonitorError if it is malformed or its root does not follow
        from its frontier (a state file edited or damaged)."""
        try:
            if raw["format"] != STATE_FORMAT:
                raise MonitorError(f"state format {raw['format']!r}, want {STATE_FORMAT!r}")
            frontier = Frontier(int(raw["tree_size"]), [bytes.fromhex(h) for h in raw["frontier"]])
            state = cls(
                contract=str(raw["contract"]),
                chain_id=int(raw["chain_id"]),
                frontier=frontier,
                root=bytes.fromhex(raw["root"]),
                last_block=int(raw["last_block"]),
                checkpoints=int(raw["checkpoints"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitorError(f"malformed state: {exc}") from None
        if state.frontier.root() != state.root:
            raise MonitorError("the state's root does not follow from its frontier")
        return state

    def dumps(self) -> str:
        """The state as the JSON text of its file."""
        return json.dumps(self.to_json(), indent=2) + "\n"


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


def needs_replay(hooks: Sequence[LeafHook]) -> bool:
    """Whether a hook keeps state across leaves (then every leaf from 0 must pass by it)."""
    return any(hook is not event_position_hook for hook in hooks)


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
    """Called after each checkpoint that holds (the CLI saves the state file there)."""

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
            self._fail(
                size,
                f"the contract anchored root {root.hex()} for {where}, but the leaves the "
                f"server publishes give {computed.hex()}: a leaf in [{previous[0]}, {size}) "
                "was changed, dropped or reordered since it was anchored",
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
