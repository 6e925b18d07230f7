"""What a monitor keeps between runs: the checked tree and the card-map replay's state.

Two files make one state. The JSON state file (``cardtrail-monitor-state/2``) holds the
tree size, its root, the Merkle frontier (one hash per set bit of the size) and the last
block read, and names the **card-map file** that goes with it by its SHA-256. The card-map
file (``cardtrail-monitor-cardmap/1``) holds the replayed map's entries and the card heads
changed since the last ``CARD_MAP`` leaf, under a header naming the deployment, tree size
and root it belongs to. A state file of format ``/1`` (written before the map was saved)
names no card-map file: the monitor then replays the map from leaf 0 once.

This module is pure: it encodes and decodes both documents and checks that they belong
together; :mod:`anchoring.monitor_store` writes and reads the files.

    >>> frontier = Frontier()
    >>> for leaf in (b"a", b"b", b"c"):
    ...     frontier.append(merkle.hash_leaf(leaf))
    >>> frontier.root() == merkle.root([merkle.hash_leaf(x) for x in (b"a", b"b", b"c")])
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from anchoring import merkle
from anchoring.cardmap import ENTRY_SIZE, HASH_SIZE
from anchoring.errors import Error

STATE_FORMAT = "cardtrail-monitor-state/2"
STATE_FORMAT_WITHOUT_MAP = "cardtrail-monitor-state/1"
MAP_FORMAT = "cardtrail-monitor-cardmap/1"
MAP_SUFFIX = ".cardmap-"
EMPTY_ROOT = merkle.root([])


class MonitorError(Error):
    """The monitor could not run its checks (bad state file, unreachable source)."""


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


@dataclass(frozen=True)
class MapFileRef:
    """The card-map file a state file goes with: its name (beside the state file) and the
    SHA-256 of its bytes."""

    name: str
    sha256: bytes


@dataclass
class MonitorState:
    """Where a monitor stands: the checked tree, its frontier and the next block to read."""

    contract: str
    chain_id: int
    frontier: Frontier = field(default_factory=Frontier)
    root: bytes = EMPTY_ROOT
    last_block: int = 0
    checkpoints: int = 0
    card_map: MapFileRef | None = None
    """The card-map file saved with this state; None in a state file of format ``/1``."""

    @property
    def tree_size(self) -> int:
        """The size of the last anchored tree checked."""
        return self.frontier.size

    def to_json(self) -> dict[str, Any]:
        """The state file's document."""
        ref = self.card_map
        return {
            "format": STATE_FORMAT,
            "contract": self.contract,
            "chain_id": self.chain_id,
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "frontier": [h.hex() for h in self.frontier.hashes],
            "last_block": self.last_block,
            "checkpoints": self.checkpoints,
            "card_map": None if ref is None else {"file": ref.name, "sha256": ref.sha256.hex()},
        }

    @classmethod
    def from_json(cls, raw: Any) -> MonitorState:
        """A state read back (format ``/2``, or ``/1`` without a card map); MonitorError if
        it is malformed or its root does not follow from its frontier (edited or damaged)."""
        try:
            if raw["format"] not in (STATE_FORMAT, STATE_FORMAT_WITHOUT_MAP):
                raise MonitorError(f"state format {raw['format']!r}, want {STATE_FORMAT!r}")
            frontier = Frontier(int(raw["tree_size"]), [bytes.fromhex(h) for h in raw["frontier"]])
            state = cls(
                contract=str(raw["contract"]),
                chain_id=int(raw["chain_id"]),
                frontier=frontier,
                root=bytes.fromhex(raw["root"]),
                last_block=int(raw["last_block"]),
                checkpoints=int(raw["checkpoints"]),
                card_map=_map_ref(raw.get("card_map")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitorError(f"malformed state: {exc}") from None
        if state.frontier.root() != state.root:
            raise MonitorError("the state's root does not follow from its frontier")
        return state

    def dumps(self) -> str:
        """The state as the JSON text of its file."""
        return json.dumps(self.to_json(), indent=2) + "\n"


def _map_ref(raw: Any) -> MapFileRef | None:
    if raw is None:
        return None
    name, digest = str(raw["file"]), bytes.fromhex(raw["sha256"])
    # The name is joined to the state file's folder: it must stay there.
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"card_map.file {name!r} is not a plain file name")
    if len(digest) != HASH_SIZE:
        raise ValueError("card_map.sha256 is not a SHA-256")
    return MapFileRef(name, digest)


# --- the card-map file ---------------------------------------------------------------------


@dataclass(frozen=True)
class SavedMap:
    """The card-map replay at a tree size: the map's root as of the last ``CARD_MAP`` leaf,
    its entries and the heads changed since that leaf, each packed as ``key || value``
    records (:func:`anchoring.cardmap.pack_entries`), key-sorted."""

    map_root: bytes
    entries: bytes
    pending: bytes


def _binding(state: MonitorState) -> dict[str, Any]:
    """What ties a card-map file to one tree of one deployment."""
    return {
        "contract": state.contract.lower(),
        "chain_id": state.chain_id,
        "tree_size": state.tree_size,
        "root": state.root.hex(),
    }


def encode_map_file(state: MonitorState, saved: SavedMap) -> bytes:
    """The card-map file for ``saved`` at ``state``'s tree: a format line, a JSON header
    line, then the entries and the pending heads, ENTRY_SIZE bytes each."""
    header = _binding(state) | {
        "map_root": saved.map_root.hex(),
        "cards": len(saved.entries) // ENTRY_SIZE,
        "pending": len(saved.pending) // ENTRY_SIZE,
    }
    head = f"{MAP_FORMAT}\n{json.dumps(header, sort_keys=True)}\n".encode()
    return head + saved.entries + saved.pending


def map_file_ref(state_name: str, data: bytes) -> MapFileRef:
    """The reference the state file ``state_name`` keeps to the card-map file ``data``,
    named after both so that each save's file has a name of its own."""
    digest = hashlib.sha256(data).digest()
    return MapFileRef(f"{state_name}{MAP_SUFFIX}{digest.hex()[:16]}", digest)


def decode_map_file(data: bytes, state: MonitorState) -> SavedMap:
    """The saved replay in ``data``, checked to be the file ``state`` names and to belong to
    its deployment and tree; MonitorError saying what does not match otherwise."""
    ref = state.card_map
    if ref is None or hashlib.sha256(data).digest() != ref.sha256:
        raise MonitorError(
            f"card-map file {ref.name if ref else '?'} is not the one the state file names "
            "(its SHA-256 differs): it was changed, or belongs to another save"
        )
    try:
        format_line, header_line, body = data.split(b"\n", 2)
        if format_line.decode() != MAP_FORMAT:
            raise MonitorError(f"card-map format {format_line[:40]!r}, want {MAP_FORMAT!r}")
        header = json.loads(header_line)
        cards, pending = int(header["cards"]), int(header["pending"])
        map_root = bytes.fromhex(header["map_root"])
        found = {member: header[member] for member in _binding(state)}
    except (KeyError, TypeError, ValueError) as exc:
        raise MonitorError(f"card-map file {ref.name}: malformed ({exc})") from None
    if found != _binding(state):
        raise MonitorError(
            f"card-map file {ref.name} is the map at tree size {found['tree_size']} (root "
            f"{found['root']}) of contract {found['contract']} on chain {found['chain_id']}, "
            f"but the state file stands at tree size {state.tree_size} (root "
            f"{state.root.hex()}) of {state.contract.lower()} on chain {state.chain_id}"
        )
    if len(body) != (cards + pending) * ENTRY_SIZE:
        raise MonitorError(f"card-map file {ref.name}: truncated or padded")
    split = cards * ENTRY_SIZE
    return SavedMap(map_root, body[:split], body[split:])
