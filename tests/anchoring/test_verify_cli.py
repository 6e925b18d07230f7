"""``cardtrail verify`` on the in-process chain (eth-tester): the bundle cases, through the CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785
from bundles import generate
from click.testing import CliRunner
from issuerkit import DESCRIPTOR, serving
from web3 import EthereumTesterProvider, Web3

from anchoring import contract, merkle, verify_cli
from anchoring.bundle import FRESHNESS_GRACE_SECONDS
from anchoring.chain import AnchorReader
from anchoring.node import free_port

CASES = Path(__file__).resolve().parent / "bundles"
VALID = json.loads((CASES / "valid.json").read_text(encoding="utf-8"))
# The script that writes the cases also knows their whole log, which the stale-bundle
# tests anchor at several sizes.
ANCHORED = {int(size): root for size, root in VALID["chain"]["roots"].items()}


@pytest.fixture(scope="module")
def chain():
    """eth-tester with LedgerAnchor deployed and the valid case's checkpoint anchored."""
    w3 = Web3(EthereumTesterProvider())
    owner = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=contract.ABI, bytecode=contract.BYTECODE)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": owner}))
    anchor = w3.eth.contract(address=receipt.contractAddress, abi=contract.ABI)
    for size, root in ANCHORED.items():
        tx = anchor.functions.anchor(size, bytes.fromhex(root), []).transact({"from": owner})
        w3.eth.wait_for_transaction_receipt(tx)
    return w3, receipt.contractAddress


@pytest.fixture
def run(chain, monkeypatch, tmp_path):
    """Run ``cardtrail verify`` on a bundle against the eth-tester chain."""
    w3, _ = chain
    monkeypatch.setattr(verify_cli, "AnchorReader", lambda rpc, address: AnchorReader(w3, address))

    def invoke(bundle: dict, *args: str):
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        return CliRunner().invoke(
            verify_cli.verify_command, [str(path), "--rpc", "http://x", *args]
        )

    return invoke


def _on_this_chain(case: dict, chain) -> dict:
    """The case's bundle, pointed at the deployed contract (and its chain, unless the case
    is about a wrong chain)."""
    w3, address = chain
    bundle = copy.deepcopy(case["bundle"])
    if isinstance(bundle.get("checkpoint"), dict):
        bundle["checkpoint"]["contract"] = address
        if case["chain"]["chain_id"] == bundle["checkpoint"]["chain_id"]:
            bundle["checkpoint"]["chain_id"] = w3.eth.chain_id
    return bundle


CHAIN_CASES = [
    p
    for p in sorted(CASES.glob("*.json"))
    if json.loads(p.read_text(encoding="utf-8"))["chain"]["roots"] == VALID["chain"]["roots"]
]


@pytest.mark.parametrize("path", CHAIN_CASES, ids=lambda p: p.stem)
def test_cli_verdict_and_failed_checks_match_the_case(path: Path, chain, run):
    case = json.loads(path.read_text(encoding="utf-8"))
    args = ["--json"] + (["--card", case["card_number"]] if case["card_number"] else [])
    result = run(_on_this_chain(case, chain), *args)
    report = json.loads(result.output)
    assert result.exit_code == (0 if case["want"]["ok"] else 1), result.output
    assert [c["name"] for c in report["checks"] if not c["ok"]] == case["want"]["failed"]


def _deploy_and_anchor(sizes: list[int]):
    """eth-tester with LedgerAnchor and the case log anchored at ``sizes`` (ascending), one
    block each; the anchoring block numbers by size."""
    w3 = Web3(EthereumTesterProvider())
    owner = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=contract.ABI, bytecode=contract.BYTECODE)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": owner}))
    anchor = w3.eth.contract(address=receipt.contractAddress, abi=contract.ABI)
    log = generate.build_log()
    leaves = [merkle.hash_leaf(rfc8785.dumps(log[i])) for i in range(len(log))]
    blocks, previous = {}, 0
    for size in sizes:
        proof = merkle.consistency_proof(leaves[:size], previous) if previous else []
        tx = anchor.functions.anchor(size, merkle.root(leaves[:size]), proof).transact(
            {"from": owner}
        )
        blocks[size] = w3.eth.wait_for_transaction_receipt(tx).blockNumber
        previous = size
    return w3, receipt.contractAddress, blocks


def _time_travel(w3, seconds: int) -> None:
    """Move the chain's clock on and mine a block, as time passing on a live chain does."""
    tester = w3.provider.ethereum_tester
    tester.time_travel(w3.eth.get_block("latest")["timestamp"] + seconds)
    tester.mine_blocks(1)


def _stale_run(monkeypatch, tmp_path, sizes: list[int]):
    """``cardtrail verify`` on the stale case's bundle (size 11) against a chain at ``sizes``."""
    w3, address, blocks = _deploy_and_anchor(sizes)
    monkeypatch.setattr(verify_cli, "AnchorReader", lambda rpc, at: AnchorReader(w3, at))
    case = json.loads((CASES / "stale-checkpoint.json").read_text(encoding="utf-8"))
    bundle = copy.deepcopy(case["bundle"])
    bundle["checkpoint"].update(contract=address, chain_id=w3.eth.chain_id, block_number=blocks[11])

    def invoke(*args: str, block_number: int | None = None):
        if block_number is not None:
            bundle["checkpoint"]["block_number"] = block_number
        path = tmp_path / "stale.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        return CliRunner().invoke(
            verify_cli.verify_command,
            [str(path), "--rpc", "http://x", "--card", case["card_number"], *args],
        )

    return w3, address, blocks, invoke


def test_stale_bundle_on_a_chain_that_just_moved_on_verifies_with_a_warning(monkeypatch, tmp_path):
    *_, invoke = _stale_run(monkeypatch, tmp_path, [11, 13])
    result = invoke()
    assert result.exit_code == 0, result.output
    assert "WARN  freshness" in result.output and "size 13" in result.output
    assert "not at the newest checkpoint" in result.output
    strict = invoke("--require-fresh", "--json")
    assert strict.exit_code == 1
    failed = [c["name"] for c in json.loads(strict.output)["checks"] if not c["ok"]]
    assert failed == ["freshness"]


def test_stale_bundle_fails_once_the_chain_moved_on_longer_ago_than_the_grace(
    monkeypatch, tmp_path
):
    w3, *_, invoke = _stale_run(monkeypatch, tmp_path, [11, 13])
    _time_travel(w3, FRESHNESS_GRACE_SECONDS + 60)
    result = invoke("--json")
    assert result.exit_code == 1, result.output
    freshness = json.loads(result.output)["checks"][-1]
    assert freshness["name"] == "freshness" and not freshness["ok"]
    assert "out of date or hiding them" in freshness["reason"]


def test_a_false_block_number_does_not_skip_the_first_newer_checkpoint(monkeypatch, tmp_path):
    # Size 12 was anchored long ago, 13 just now: a bundle claiming it was anchored in
    # 13's block must still be measured from 12, the first checkpoint past it.
    w3, address, _, invoke = _stale_run(monkeypatch, tmp_path, [11, 12])
    _time_travel(w3, FRESHNESS_GRACE_SECONDS + 60)
    log = generate.build_log()
    leaves = [merkle.hash_leaf(rfc8785.dumps(log[i])) for i in range(len(log))]
    anchor = w3.eth.contract(address=address, abi=contract.ABI)
    tx = anchor.functions.anchor(
        13, merkle.root(leaves), merkle.consistency_proof(leaves, 12)
    ).transact({"from": w3.eth.accounts[0]})
    latest_block = w3.eth.wait_for_transaction_receipt(tx).blockNumber
    result = invoke("--json", block_number=latest_block)
    assert result.exit_code == 1, result.output
    assert "the first after size 11" in json.loads(result.output)["checks"][-1]["reason"]


def test_readable_report_names_each_check_and_the_verdict(chain, run):
    result = run(_on_this_chain(VALID, chain))
    assert result.exit_code == 0, result.output
    assert "PASS  anchor" in result.output and "bundle verifies" in result.output
    assert f"checkpoint  size {next(iter(ANCHORED))}" in result.output


def test_removed_middle_event_is_reported_with_its_reason(chain, run):
    case = json.loads((CASES / "removed-middle-event.json").read_text(encoding="utf-8"))
    result = run(_on_this_chain(case, chain))
    assert result.exit_code == 1
    assert "FAIL  chain" in result.output and "seq 1 is missing" in result.output
    assert "bundle does NOT verify" in result.output


def test_unreachable_rpc_fails_the_anchor_check(tmp_path):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(VALID["bundle"]), encoding="utf-8")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(verify_cli.verify_command, [str(path), "--rpc", url])
    assert result.exit_code == 1
    assert "FAIL  anchor" in result.output and "could not ask the chain" in result.output


def test_case_file_instead_of_a_bundle_fails_the_format_check():
    result = CliRunner().invoke(
        verify_cli.verify_command, [str(CASES / "valid.json"), "--rpc", "http://x"]
    )
    assert result.exit_code == 1 and "FAIL  format" in result.output


def test_a_file_that_is_not_json_is_a_usage_error(tmp_path):
    path = tmp_path / "bundle.json"
    path.write_text("{not json")
    result = CliRunner().invoke(verify_cli.verify_command, [str(path), "--rpc", "http://x"])
    assert result.exit_code == 2 and "is not JSON" in result.output


def test_verifier_imports_neither_flask_nor_the_ledger_service():
    code = (
        "import sys, anchoring.verify_cli;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'ledger_service', 'portal', 'sqlalchemy')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


# --- pinned issuers ----------------------------------------------------------------------


@pytest.fixture
def asked(chain, monkeypatch):
    """The contract addresses ``cardtrail verify`` asks the chain about, in order."""
    w3, _ = chain
    addresses: list[str] = []

    def reader(rpc: str, address: str) -> AnchorReader:
        addresses.append(address)
        return AnchorReader(w3, address)

    monkeypatch.setattr(verify_cli, "AnchorReader", reader)
    return addresses


def _look_alike(w3) -> str:
    """Another LedgerAnchor on the same chain, with the valid case's forged twin anchored:
    a look-alike site's own contract, which holds whatever root it wants."""
    owner = w3.eth.accounts[1]
    factory = w3.eth.contract(abi=contract.ABI, bytecode=contract.BYTECODE)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": owner}))
    forged = json.loads((CASES / "forged-tree-not-anchored.json").read_text(encoding="utf-8"))
    checkpoint = forged["bundle"]["checkpoint"]
    anchor = w3.eth.contract(address=receipt.contractAddress, abi=contract.ABI)
    tx = anchor.functions.anchor(
        checkpoint["tree_size"], bytes.fromhex(checkpoint["root"]), []
    ).transact({"from": owner})
    w3.eth.wait_for_transaction_receipt(tx)
    return receipt.contractAddress


def _forged_bundle(w3, address: str) -> dict:
    forged = json.loads((CASES / "forged-tree-not-anchored.json").read_text(encoding="utf-8"))
    bundle = copy.deepcopy(forged["bundle"])
    bundle["checkpoint"].update(contract=address, chain_id=w3.eth.chain_id)
    return bundle


def _checks(result) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(result.output)["checks"]}


def test_unpinned_verdict_holds_with_an_issuer_warning(chain, run):
    result = run(_on_this_chain(VALID, chain), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["warnings"] == ["issuer", "complete"]
    issuer = _checks(result)["issuer"]
    assert issuer["ok"] and issuer["warning"] and "no issuer pinned" in issuer["reason"]


def test_unpinned_readable_verdict_says_the_contract_was_the_bundles(chain, run):
    result = run(_on_this_chain(VALID, chain))
    assert "WARN  issuer" in result.output
    assert "against the contract the bundle itself names" in result.output


def test_require_pinned_without_a_pin_fails_the_issuer_check(chain, run):
    result = run(_on_this_chain(VALID, chain), "--json", "--require-pinned")
    assert result.exit_code == 1
    assert [n for n, c in _checks(result).items() if not c["ok"]] == ["issuer"]


def test_pinned_to_the_bundles_contract_verifies_without_an_issuer_warning(chain, run, asked):
    w3, address = chain
    pin = ["--contract", address.lower(), "--chain-id", str(w3.eth.chain_id)]
    result = run(_on_this_chain(VALID, chain), "--json", "--require-pinned", *pin)
    assert result.exit_code == 0, result.output
    # A version 1 bundle still warns that it cannot prove completeness (the card map).
    assert json.loads(result.output)["warnings"] == ["complete"]
    assert _checks(result)["issuer"]["ok"] and asked == [address.lower()]


def test_look_alike_contract_passes_unpinned_and_fails_once_pinned(chain, run, asked):
    # The attack of issue 14: a server deploys its own contract and anchors a forged tree.
    w3, genuine = chain
    fake = _look_alike(w3)
    bundle = _forged_bundle(w3, fake)
    unpinned = run(bundle, "--json")
    assert unpinned.exit_code == 0, unpinned.output
    assert json.loads(unpinned.output)["warnings"] == ["issuer", "complete"]
    asked.clear()
    pinned = run(bundle, "--json", "--contract", genuine, "--chain-id", str(w3.eth.chain_id))
    assert pinned.exit_code == 1, pinned.output
    checks = _checks(pinned)
    assert not checks["issuer"]["ok"]
    assert fake in checks["issuer"]["reason"] and genuine in checks["issuer"]["reason"]
    assert not checks["anchor"]["ok"] and "not asked" in checks["anchor"]["reason"]
    assert fake not in asked


def test_a_bundle_naming_another_chain_than_the_pinned_fails_the_issuer_check(chain, run):
    w3, address = chain
    result = run(_on_this_chain(VALID, chain), "--json", "--contract", address, "--chain-id", "5")
    assert result.exit_code == 1
    issuer = _checks(result)["issuer"]
    assert not issuer["ok"] and "on chain 5" in issuer["reason"]


def test_pinned_checks_ask_the_pinned_contract_even_for_a_look_alike_root(chain, run, asked):
    # The bundle names the genuine contract but carries the look-alike's forged root: the
    # only contract asked is the pinned one, which holds no such root.
    w3, genuine = chain
    _look_alike(w3)
    bundle = _forged_bundle(w3, genuine)
    result = run(bundle, "--json", "--contract", genuine, "--chain-id", str(w3.eth.chain_id))
    assert result.exit_code == 1
    assert _checks(result)["issuer"]["ok"] and not _checks(result)["anchor"]["ok"]
    assert asked == [genuine]


def _descriptor_for(chain, **changes) -> dict:
    w3, address = chain
    return DESCRIPTOR | {"chain_id": w3.eth.chain_id, "contract": address} | changes


def test_issuer_descriptor_file_pins_the_contract(chain, run, tmp_path):
    path = tmp_path / "issuer.json"
    path.write_text(json.dumps(_descriptor_for(chain, serves="cardtrail-bundle/1")))
    result = run(_on_this_chain(VALID, chain), "--json", "--issuer", str(path))
    assert result.exit_code == 0, result.output
    assert "issuer.json" in _checks(result)["issuer"]["reason"]


def test_issuer_descriptor_url_pins_the_contract(chain, run):
    body = json.dumps(_descriptor_for(chain, serves="cardtrail-bundle/1")).encode()
    routes = {"/.well-known/cardtrail-issuer.json": (200, {}, body)}
    with serving(routes) as base:
        url = base + "/.well-known/cardtrail-issuer.json"
        result = run(_on_this_chain(VALID, chain), "--json", "--issuer", url)
    assert result.exit_code == 0, result.output
    assert _checks(result)["issuer"]["ok"]


def test_issuer_serving_version_2_refuses_a_version_1_bundle(chain, run, tmp_path):
    path = tmp_path / "issuer.json"
    path.write_text(json.dumps(_descriptor_for(chain, serves="cardtrail-bundle/2")))
    result = run(_on_this_chain(VALID, chain), "--json", "--issuer", str(path))
    assert result.exit_code == 1
    issuer = _checks(result)["issuer"]
    assert not issuer["ok"] and "downgrade" in issuer["reason"]


def test_an_unloadable_descriptor_is_a_usage_error(chain, run, tmp_path):
    path = tmp_path / "issuer.json"
    path.write_text(json.dumps(_descriptor_for(chain, contract="0x12")))
    result = run(_on_this_chain(VALID, chain), "--issuer", str(path))
    assert result.exit_code == 2 and "contract must be" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--contract", "0x5FbDB2315678afecb367f032d93F642f64180aa3"],
        ["--chain-id", "1"],
        ["--contract", "0x12", "--chain-id", "1"],
        ["--issuer", "x.json", "--chain-id", "1", "--contract", "0x" + "ab" * 20],
    ],
)
def test_half_or_double_pins_are_usage_errors(chain, run, args):
    assert run(_on_this_chain(VALID, chain), *args).exit_code == 2
