"""What the passes of ``cardtrail audit`` report: divergences, and where they are met."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from anchoring.log import LogDivergence

Progress = Callable[[int], None]
ReaderFactory = Callable[[str], Any]
"""Builds a chain reader (``root_at``) for a contract address."""


@dataclass(frozen=True)
class Divergence:
    """The first place where what is stored does not agree with what it must be."""

    check: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.where}: {self.detail}"


Found = tuple[int, Divergence]
"""A divergence of the events pass and the leaf index where the serial pass meets it."""


class ChainUnreachable(Exception):
    """The chain could not be asked; the checkpoint pass is incomplete."""


def tree_divergence(found: LogDivergence | None) -> Divergence | None:
    """The tree pass's finding (:meth:`anchoring.log.MerkleLog.audit`) as a divergence."""
    if found is None:
        return None
    what = "leaf" if found.level == 0 else f"node at level {found.level}"
    detail = {
        "leaf": "stored leaf hash is not the hash of the stored leaf input",
        "node": "stored hash is not the hash of its two children",
        "missing": "required by the log's size but not stored",
    }.get(found.what, found.what)
    return Divergence("tree", f"{what} {found.index}", detail)
