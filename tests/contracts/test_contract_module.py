"""anchoring.contract: the committed artifact as Python constants."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from anchoring import contract


def test_abi_has_the_fixed_public_face():
    functions = {
        item["name"]: [i["type"] for i in item["inputs"]]
        for item in contract.ABI
        if item["type"] == "function"
    }
    assert functions["anchor"] == ["uint64", "bytes32", "bytes32[]"]
    assert functions["latestCheckpoint"] == []
    assert functions["rootAt"] == ["uint64"]
    assert functions["verifyInclusion"] == ["uint64", "uint64", "bytes32", "bytes32[]"]
    (event,) = [i for i in contract.ABI if i.get("name") == "CheckpointAnchored"]
    assert [(i["name"], i["type"], i["indexed"]) for i in event["inputs"]] == [
        ("treeSize", "uint64", True),
        ("root", "bytes32", False),
        ("index", "uint256", False),
    ]
    (constructor,) = [i for i in contract.ABI if i["type"] == "constructor"]
    assert constructor["inputs"] == []


def test_every_custom_error_is_named_by_its_selector():
    names = {i["name"] for i in contract.ABI if i["type"] == "error"}
    assert set(contract.ERRORS.values()) == names
    assert all(name.startswith("LedgerAnchor") for name in names)
    selector = keccak(text="LedgerAnchorTreeSizeNotIncreasing(uint64,uint64)")[:4]
    assert contract.error_selector("LedgerAnchorTreeSizeNotIncreasing") == selector


def test_error_name_reads_bytes_and_hex_revert_data():
    data = contract.error_selector("LedgerAnchorZeroRoot")
    assert contract.error_name(data) == "LedgerAnchorZeroRoot"
    assert contract.error_name("0x" + (data + bytes(64)).hex()) == "LedgerAnchorZeroRoot"
    assert contract.error_name(b"\x08\xc3\x79\xa0") is None  # Error(string): not ours
    assert contract.error_name(b"") is None


def test_unknown_error_has_no_selector():
    with pytest.raises(KeyError):
        contract.error_selector("Nonexistent")


def test_missing_artifact_says_how_to_rebuild_it(tmp_path):
    with pytest.raises(contract.ArtifactMissing, match="compile_contracts.py"):
        contract._load(tmp_path / "LedgerAnchor.json")
    assert issubclass(contract.ArtifactMissing, FileNotFoundError)
