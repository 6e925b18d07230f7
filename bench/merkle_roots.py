"""Section 1: the root of n leaves and appends per second, CardTrail beside its peers.

Every contender starts from the same n leaf inputs (event-sized byte strings) and ends
with the root:

* **lower bound** — a Python loop doing only the 2n−1 ``hashlib.sha256`` calls an RFC 9162
  tree needs (n leaf hashes, then n−1 node hashes of 65 bytes), with no tree bookkeeping;
* **CardTrail in memory** — ``anchoring.merkle.root`` over ``hash_leaf`` of each input;
* **CardTrail stored log** — ``MerkleLog.append`` in transactions of 10,000 leaves into a
  fresh SQLite database (leaves, their hashes and every complete subtree written), then
  ``MerkleLog.root()``: what the service really does;
* **pymerkle** ``InmemoryTree`` (``append_entry`` per leaf, then ``get_root``) and
  ``SqliteTree`` (``append_entries``, then ``get_root``);
* **merkletools** (``add_leaf`` with hashing, ``make_tree``): not RFC 9162 — no 0x00/0x01
  domain separation, so it hashes n + (n−1) shorter inputs.

Every root is checked against ``anchoring.merkle`` (except merkletools', which differs by
design) outside the timed section.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from anchoring import merkle
from anchoring.db import create_engine, read_transaction, write_transaction
from anchoring.log import MerkleLog
from anchoring.schema import log_head, log_leaves, log_nodes, metadata
from bench.common import Config, Section, Stat, Target, log, ratio, seconds, spread

_sha256 = hashlib.sha256
APPEND_BATCH = 10_000


def leaf_inputs(count: int) -> list[bytes]:
    """``count`` distinct inputs of about 330 bytes, the size of a CardTrail event."""
    return [b"%d:" % i + os.urandom(160).hex().encode() for i in range(count)]


def lower_bound(inputs: Sequence[bytes]) -> None:
    """The 2n−1 SHA-256 calls of an RFC 9162 tree of ``inputs`` and nothing else."""
    hashes = [_sha256(b"\x00" + data).digest() for data in inputs]
    node = hashes[0]
    for _ in range(len(hashes) - 1):
        node = _sha256(b"\x01" + node + node).digest()


def cardtrail_memory(inputs: Sequence[bytes]) -> tuple[bytes, float | None]:
    """``anchoring.merkle.root`` of the leaf hashes; it has no append path."""
    return merkle.root([merkle.hash_leaf(data) for data in inputs]), None


class StoredLog:
    """CardTrail's stored log on a fresh SQLite file per run."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir

    def __call__(self, inputs: Sequence[bytes]) -> tuple[bytes, float | None]:
        """Append ``inputs`` in batches, then read the root; returns (root, append seconds)."""
        with tempfile.TemporaryDirectory(dir=self._workdir) as tmp:
            engine = create_engine(f"sqlite:///{Path(tmp) / 'log.db'}")
            metadata.create_all(engine, tables=[log_head, log_leaves, log_nodes])
            try:
                began = time.perf_counter()
                for start in range(0, len(inputs), APPEND_BATCH):
                    with write_transaction(engine) as conn:
                        log_ = MerkleLog(conn)
                        log_.lock_head()
                        log_.append(inputs[start : start + APPEND_BATCH])
                appended = time.perf_counter() - began
                with read_transaction(engine) as conn:
                    return MerkleLog(conn).root(), appended
            finally:
                engine.dispose()


def pymerkle_memory(inputs: Sequence[bytes]) -> tuple[bytes, float | None]:
    """pymerkle's InmemoryTree, one ``append_entry`` per leaf."""
    from pymerkle import InmemoryTree

    tree = InmemoryTree(algorithm="sha256")
    began = time.perf_counter()
    for data in inputs:
        tree.append_entry(data)
    appended = time.perf_counter() - began
    return tree.get_root(), appended


class PymerkleSqlite:
    """pymerkle's SqliteTree on a fresh file per run, appended in one bulk call."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir

    def __call__(self, inputs: Sequence[bytes]) -> tuple[bytes, float | None]:
        """Append ``inputs``, then compute the root; returns (root, append seconds)."""
        from pymerkle import SqliteTree

        with tempfile.TemporaryDirectory(dir=self._workdir) as tmp:
            with SqliteTree(str(Path(tmp) / "pymerkle.db"), algorithm="sha256") as tree:
                began = time.perf_counter()
                tree.append_entries(inputs)
                appended = time.perf_counter() - began
                return tree.get_root(), appended


def merkletools_tree(inputs: Sequence[str]) -> tuple[bytes, float | None]:
    """merkletools: leaves added as text with hashing, then the whole tree built."""
    with warnings.catch_warnings():
        # It warns at import that pysha3 is absent; only its SHA-3 modes need that.
        warnings.simplefilter("ignore")
        from merkletools import MerkleTools

    tree = MerkleTools(hash_type="sha256")
    began = time.perf_counter()
    tree.add_leaf(list(inputs), do_hash=True)
    appended = time.perf_counter() - began
    tree.make_tree()
    return bytes.fromhex(tree.get_merkle_root()), appended


@dataclass(frozen=True)
class Contender:
    """One implementation in the table."""

    key: str
    name: str
    build: Callable[[Sequence], tuple[bytes, float | None]]
    text_inputs: bool = False
    rfc9162: bool = True


@dataclass
class Measured:
    """One contender at one size: total wall/CPU seconds and the append phase's seconds."""

    wall: Stat
    cpu: Stat
    append: Stat | None


def _run(contender: Contender, inputs: Sequence, runs: int, expected: bytes | None) -> Measured:
    walls, cpus, appends = [], [], []
    for _ in range(runs):
        began, began_cpu = time.perf_counter(), time.process_time()
        root, appended = contender.build(inputs)
        cpus.append(time.process_time() - began_cpu)
        walls.append(time.perf_counter() - began)
        if appended is not None:
            appends.append(appended)
        if expected is not None and contender.rfc9162 and root != expected:
            raise RuntimeError(f"{contender.name} computed another root than anchoring.merkle")
    return Measured(Stat.of(walls), Stat.of(cpus), Stat.of(appends) if appends else None)


def _lower(inputs: Sequence[bytes], runs: int) -> Measured:
    walls, cpus = [], []
    for _ in range(runs):
        began, began_cpu = time.perf_counter(), time.process_time()
        lower_bound(inputs)
        cpus.append(time.process_time() - began_cpu)
        walls.append(time.perf_counter() - began)
    return Measured(Stat.of(walls), Stat.of(cpus), None)


def run(cfg: Config) -> Section:
    """Measure every contender at every size; CardTrail and the peers run side by side."""
    sizes = [1_000, 10_000] if cfg.quick else [10_000, 100_000, 1_000_000]
    contenders = [
        Contender(
            "cardtrail_memory", "CardTrail `anchoring.merkle.root` (in memory)", cardtrail_memory
        ),
        Contender(
            "cardtrail_stored",
            "CardTrail `MerkleLog` append + root (SQLite)",
            StoredLog(cfg.workdir),
        ),
        Contender("pymerkle_memory", "pymerkle `InmemoryTree`", pymerkle_memory),
        Contender("pymerkle_sqlite", "pymerkle `SqliteTree` (SQLite)", PymerkleSqlite(cfg.workdir)),
    ]
    # `make bench` installs it (with --no-deps); a plain `pip install -e .[dev]` cannot.
    if importlib.util.find_spec("merkletools") is not None:
        contenders.append(
            Contender("merkletools", "merkletools (not RFC 9162)", merkletools_tree, True, False)
        )
    all_inputs = leaf_inputs(sizes[-1])
    all_text = [data.decode() for data in all_inputs]
    warm = all_inputs[: sizes[0]]
    lower_bound(warm)
    for contender in contenders:
        contender.build(all_text[: sizes[0]] if contender.text_inputs else warm)

    results: dict[str, dict[int, Measured]] = {"lower_bound": {}}
    for n in sizes:
        inputs = all_inputs[:n]
        expected = merkle.root([merkle.hash_leaf(data) for data in inputs])
        runs = cfg.runs if n < 1_000_000 else max(3, cfg.runs - 2)
        log(f"merkle: {n:,} leaves, {runs} runs each")
        results["lower_bound"][n] = _lower(inputs, runs)
        for contender in contenders:
            source = all_text[:n] if contender.text_inputs else inputs
            results.setdefault(contender.key, {})[n] = _run(contender, source, runs, expected)
    return _section(sizes, contenders, results)


def _section(
    sizes: list[int], contenders: list[Contender], results: dict[str, dict[int, Measured]]
) -> Section:
    top = sizes[-1]
    names = {"lower_bound": "lower bound: 2n−1 `hashlib.sha256` calls"}
    names.update((c.key, c.name) for c in contenders)
    header = (
        ["implementation"]
        + [f"root of {n:,} (wall)" for n in sizes]
        + [
            f"CPU at {top:,}",
            f"appends/s at {top:,}",
            f"CPU ÷ lower bound at {top:,}",
        ]
    )
    floor = results["lower_bound"][top].cpu.median
    rows = []
    for key, by_size in results.items():
        m = by_size[top]
        appends = f"{top / m.append.median:,.0f}" if m.append else "—"
        rows.append(
            [names[key]]
            + [spread(by_size[n].wall, seconds) for n in sizes]
            + [spread(m.cpu, seconds), appends, ratio(m.cpu.median / floor)]
        )
    cpu = {key: by_size[top].cpu.median for key, by_size in results.items()}
    wall = {key: by_size[top].wall.median for key, by_size in results.items()}
    mem, stored = cpu["cardtrail_memory"], cpu["cardtrail_stored"]
    targets = [
        Target(
            f"Merkle root of {top:,} leaves: CardTrail in memory ÷ lower bound (CPU)",
            ratio(mem / floor),
            "≤ 1.5",
            mem / floor <= 1.5,
            f"wall {ratio(wall['cardtrail_memory'] / wall['lower_bound'])}",
        ),
        Target(
            f"Merkle root of {top:,} leaves: pymerkle InmemoryTree ÷ CardTrail in memory (CPU)",
            ratio(cpu["pymerkle_memory"] / mem),
            "≥ 10",
            cpu["pymerkle_memory"] / mem >= 10,
            f"wall {ratio(wall['pymerkle_memory'] / wall['cardtrail_memory'])}",
        ),
        Target(
            f"Stored log, append + root of {top:,}: pymerkle SqliteTree ÷ CardTrail MerkleLog "
            "(wall)",
            ratio(wall["pymerkle_sqlite"] / wall["cardtrail_stored"]),
            "≥ 1 (ahead)",
            wall["pymerkle_sqlite"] >= wall["cardtrail_stored"],
            f"CPU {ratio(cpu['pymerkle_sqlite'] / stored)}",
        ),
    ]
    if "merkletools" in cpu:
        targets.append(
            Target(
                f"Merkle root of {top:,} leaves: merkletools ÷ CardTrail in memory (CPU)",
                ratio(cpu["merkletools"] / mem),
                "≥ 1 (ahead)",
                cpu["merkletools"] >= mem,
                f"wall {ratio(wall['merkletools'] / wall['cardtrail_memory'])}",
            )
        )
    else:
        targets.append(
            Target(
                "Merkle root: merkletools ÷ CardTrail",
                "—",
                "≥ 1 (ahead)",
                None,
                "merkletools not installed (`make bench` installs it)",
            )
        )
    notes = [
        "Times are medians of the runs with (min–max); CPU is this process's CPU time, "
        "which on a shared machine is steadier than the wall clock for single-threaded work.",
        "The in-memory root and the stored log are different things: the stored log also "
        "writes every leaf, its hash and every complete subtree to SQLite in transactions "
        "of 10,000 (synchronous=FULL), which is what makes proofs O(log n) reads later. "
        "pymerkle's SqliteTree stores only the leaves and computes subtree hashes when asked.",
        "merkletools hashes without RFC 9162's domain separation (no 0x00/0x01 prefix), so "
        "its root differs and it hashes 2n−1 slightly shorter inputs; it is installed with "
        "`pip install --no-deps` because its pysha3 dependency no longer builds.",
    ]
    data = {
        key: {
            str(n): {
                "wall_s": m.wall.to_json(),
                "cpu_s": m.cpu.to_json(),
                "append_s": m.append.to_json() if m.append else None,
            }
            for n, m in by_size.items()
        }
        for key, by_size in results.items()
    }
    return Section(
        "merkle", "1. Merkle tree: root of n leaves", [(header, rows)], targets, notes, data
    )
