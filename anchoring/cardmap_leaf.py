"""The log's side of the card map: ``CARD_MAP`` leaves and card heads read from leaves.

Pure: builds and recognises the canonical JSON of the leaf that commits a map root
(``docs/card-map.md``, "The map in the log"), and folds event leaves into card heads.

    >>> from datetime import UTC, datetime
    >>> from anchoring.cardmap_leaf import map_leaf_input, parse_map_leaf
    >>> data = map_leaf_input(5, bytes(32), cards=2, changed=2,
    ...                       recorded_at=datetime(2026, 12, 2, tzinfo=UTC))
    >>> data[:40]
    b'{"cards":2,"changed":2,"leaf_index":5,"m'
    >>> parse_map_leaf(data)["tree_size"]
    5
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import rfc8785

from anchoring.cardmap import CARD_MAP_TYPE, KEY_SIZE, CardHead
from anchoring.errors import LogIntegrityError

_MAP_KEYS = frozenset(
    {"type", "leaf_index", "tree_size", "map_root", "cards", "changed", "recorded_at"}
)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and ``Z``, as events write their times."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def map_leaf_event(
    tree_size: int, root: bytes, cards: int, changed: int, recorded_at: datetime
) -> dict[str, Any]:
    """The ``CARD_MAP`` object for the map over the first ``tree_size`` leaves."""
    return {
        "type": CARD_MAP_TYPE,
        "leaf_index": tree_size,
        "tree_size": tree_size,
        "map_root": root.hex(),
        "cards": cards,
        "changed": changed,
        "recorded_at": format_timestamp(recorded_at),
    }


def map_leaf_input(
    tree_size: int, root: bytes, cards: int, changed: int, recorded_at: datetime
) -> bytes:
    """The leaf input (RFC 8785 canonical JSON) of a ``CARD_MAP`` leaf."""
    return rfc8785.dumps(map_leaf_event(tree_size, root, cards, changed, recorded_at))


def parse_leaf(data: bytes) -> dict[str, Any]:
    """A leaf input as the JSON object it must be; LogIntegrityError otherwise."""
    try:
        value = json.loads(data)
    except ValueError:
        raise LogIntegrityError("a leaf input is not JSON") from None
    if not isinstance(value, dict):
        raise LogIntegrityError("a leaf input is not a JSON object")
    return value


def is_map_leaf(event: Mapping[str, Any]) -> bool:
    """True for a ``CARD_MAP`` leaf's object, False for a card event's."""
    return event.get("type") == CARD_MAP_TYPE


def parse_map_leaf(data: bytes) -> dict[str, Any]:
    """The object of a ``CARD_MAP`` leaf input, checked member by member."""
    event = parse_leaf(data)
    if not is_map_leaf(event) or set(event) != _MAP_KEYS:
        raise LogIntegrityError("not a CARD_MAP leaf")
    return event


def card_key(event: Mapping[str, Any]) -> bytes:
    """The map key of a card event: its ``card`` member, hex-decoded."""
    card = event.get("card")
    try:
        key = bytes.fromhex(card) if isinstance(card, str) else b""
    except ValueError:
        key = b""
    if len(key) != KEY_SIZE:
        raise LogIntegrityError(f"event at leaf {event.get('leaf_index')} has no valid card")
    return key


def card_heads(leaves: Iterable[tuple[int, bytes, bytes]]) -> dict[bytes, CardHead]:
    """Each card's latest event among ``(leaf_index, leaf input, leaf hash)`` in log order.

    ``CARD_MAP`` leaves are skipped: they are not events.
    """
    heads: dict[bytes, CardHead] = {}
    for index, data, leaf_hash in leaves:
        event = parse_leaf(data)
        if is_map_leaf(event):
            continue
        seq = event.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise LogIntegrityError(f"event at leaf {index} has no integer seq")
        heads[card_key(event)] = CardHead(seq, index, bytes(leaf_hash))
    return heads
