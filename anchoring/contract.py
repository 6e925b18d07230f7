"""The compiled ``LedgerAnchor`` contract: ABI, bytecode and role ids.

Loaded from the committed artifact ``contracts/LedgerAnchor.json`` (written by
``scripts/compile_contracts.py``), so nothing here needs a compiler.

    >>> from anchoring import contract
    >>> contract.ANCHORER_ROLE.hex()[:8]
    '4b3e6527'
    >>> contract.error_name(contract.error_selector("LedgerAnchorZeroRoot"))
    'LedgerAnchorZeroRoot'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from anchoring.errors import Error

ARTIFACT_PATH = Path(__file__).resolve().parents[1] / "contracts" / "LedgerAnchor.json"


class ArtifactMissing(Error, FileNotFoundError):
    """The compiled contract artifact is not where the package expects it."""


def _load(path: Path) -> dict[str, Any]:
    try:
        artifact: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactMissing(
            f"compiled contract not found at {path}: CardTrail runs from its source tree "
            "(pip install -e .); run scripts/compile_contracts.py to rebuild the artifact"
        ) from None
    return artifact


ARTIFACT: dict[str, Any] = _load(ARTIFACT_PATH)
ABI: list[dict[str, Any]] = ARTIFACT["abi"]
BYTECODE: str = ARTIFACT["bytecode"]
"""Creation bytecode, ``0x``-prefixed hex; the constructor takes no arguments."""
DEPLOYED_BYTECODE: str = ARTIFACT["deployedBytecode"]
"""Runtime bytecode, as ``eth_getCode`` returns it for a deployed instance."""
COMPILER_VERSION: str = ARTIFACT["compiler"]["version"]

ADMIN_ROLE = bytes(32)
"""May grant and revoke roles; held by the deployer (OpenZeppelin's DEFAULT_ADMIN_ROLE id)."""
ANCHORER_ROLE = keccak(text="ANCHORER_ROLE")
"""May call ``anchor``; held by the deployer."""


def _signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"


ERRORS: dict[bytes, str] = {
    keccak(text=_signature(item))[:4]: item["name"] for item in ABI if item["type"] == "error"
}
"""The contract's custom errors by their 4-byte selector."""


def error_selector(name: str) -> bytes:
    """The 4-byte selector of the custom error ``name``; KeyError if there is none."""
    for selector, known in ERRORS.items():
        if known == name:
            return selector
    raise KeyError(name)


def error_name(revert_data: bytes | str) -> str | None:
    """Name the custom error in a revert's data (bytes or ``0x`` hex), or None if unknown."""
    if isinstance(revert_data, str):
        revert_data = bytes.fromhex(revert_data.removeprefix("0x"))
    return ERRORS.get(bytes(revert_data[:4]))
