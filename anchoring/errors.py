"""The errors of the verifiable log and the chain client.

Callers catch :class:`Error` for anything that comes from ``anchoring``; bad input also
subclasses :class:`ValueError` so that generic code can treat it as such.

    >>> from anchoring.errors import RootMismatchError, VerificationError
    >>> issubclass(RootMismatchError, VerificationError)
    True
"""

from __future__ import annotations


class Error(Exception):
    """Base of every error raised by the ``anchoring`` package."""


class VerificationError(Error):
    """A proof, checkpoint or bundle does not verify."""


class ProofShapeError(VerificationError, ValueError):
    """A proof is malformed: wrong size, wrong hash length, or impossible tree sizes."""


class RootMismatchError(VerificationError):
    """A proof is well formed but leads to another root than the expected one."""

    def __init__(self, expected: bytes, calculated: bytes) -> None:
        self.expected_root = expected
        self.calculated_root = calculated
        super().__init__(
            f"calculated root {calculated.hex()} does not match expected root {expected.hex()}"
        )


class AnchoringError(Error):
    """Anchoring a checkpoint on chain failed."""


class ChainUnavailable(AnchoringError):
    """The chain's JSON-RPC endpoint cannot be reached or answers with errors."""


class BundleError(VerificationError, ValueError):
    """A proof bundle is malformed: unknown format, missing members or wrong types."""


class TreeSizeError(Error, ValueError):
    """A tree size or leaf index that the stored log cannot answer for.

    Raised for negative or non-integer values, sizes beyond the log's current size,
    leaf indices outside the tree, and size pairs that no consistency proof links.
    """


class LogIntegrityError(Error):
    """The stored log lacks a leaf or node that its size requires: run the audit."""


class KeystoreError(Error):
    """The anchoring keystore is missing, unreadable or cannot be decrypted.

    The message names the file or setting, never the password or the key.
    """


class ContractMissing(AnchoringError):
    """No contract code at the recorded address: the chain was reset or is another chain."""


class ChainDiverged(AnchoringError):
    """The contract's checkpoint is not a tree head of this log (another log, or lost events)."""


class TransactionFailed(AnchoringError):
    """An anchoring transaction was mined but reverted."""


class WorkerBusy(AnchoringError):
    """Another anchoring worker holds the lock on this database."""


class MapProofShapeError(ProofShapeError):
    """A card map proof is malformed: bitmap and siblings disagree, a hash of the wrong
    length, or a leaf that cannot stand where the proof puts it (see docs/card-map.md)."""


class MapRootMismatchError(RootMismatchError):
    """A card map proof is well formed but leads to another map root than the expected one."""
