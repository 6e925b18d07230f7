"""The monitor's ``--state`` files on disk: saved as a pair, never half of one.

A save writes the card-map file first, under a name of its own (``<state>.cardmap-`` and
the start of its SHA-256), then replaces the JSON state file, which names that file and
its digest, and only then removes the card-map files no state names any more. A crash at
any point leaves the old state file naming its old card-map file (still there) or the new
one naming the new file: the old pair or the new pair (:mod:`anchoring.monitor_state`).
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path

from anchoring.monitor import CardMapReplay
from anchoring.monitor_state import (
    MAP_SUFFIX,
    MonitorError,
    MonitorState,
    decode_map_file,
    encode_map_file,
    map_file_ref,
)

STAGING_SUFFIX = ".new"


@dataclass
class Loaded:
    """A state read back, with the card-map replay saved with it.

    ``replay`` is None when the state has no card map (a fresh state, or one of format
    ``/1``): the map must then be replayed from leaf 0.
    """

    state: MonitorState
    replay: CardMapReplay | None


def _write_durably(path: Path, data: bytes) -> None:
    """Write ``path`` whole through a staging file: a crash leaves the old or the new."""
    staging = path.with_name(path.name + STAGING_SUFFIX)
    with staging.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(staging, path)


def _sync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def save_state(path: Path, state: MonitorState, replay: CardMapReplay) -> None:
    """Save ``state`` and the replay at its tree size as one pair (see the module)."""
    data = encode_map_file(state, replay.saved())
    ref = map_file_ref(path.name, data)
    _write_durably(path.with_name(ref.name), data)
    _sync_folder(path.parent)
    state.card_map = ref
    _write_durably(path, state.dumps().encode())
    _sync_folder(path.parent)
    for stale in path.parent.glob(f"{glob.escape(path.name)}{MAP_SUFFIX}*"):
        if stale.name != ref.name:
            stale.unlink(missing_ok=True)


def load_state(path: Path | None, contract: str, chain_id: int, from_block: int) -> Loaded:
    """The saved state and replay, or a fresh state; MonitorError if the state is another
    deployment's, or its card-map file is missing or not the one it names."""
    fresh = MonitorState(contract=contract, chain_id=chain_id, last_block=from_block)
    if path is None or not path.exists():
        return Loaded(fresh, None)
    try:
        state = MonitorState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise MonitorError(f"state file {path}: {exc}") from None
    if state.contract.lower() != contract.lower() or state.chain_id != chain_id:
        raise MonitorError(
            f"state file {path} follows contract {state.contract} on chain {state.chain_id}, "
            f"not {contract} on chain {chain_id}"
        )
    if state.card_map is None:
        return Loaded(state, None)
    map_path = path.with_name(state.card_map.name)
    try:
        data = map_path.read_bytes()
    except OSError as exc:
        raise MonitorError(
            f"state file {path} names card-map file {map_path}, which cannot be read "
            f"({exc.strerror}); remove the state file to check the log from leaf 0"
        ) from None
    try:
        return Loaded(state, CardMapReplay.resumed(decode_map_file(data, state)))
    except MonitorError as exc:
        raise MonitorError(f"state file {path}: {exc}") from None
