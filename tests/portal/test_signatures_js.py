"""signatures.js (the visitor's browser) agrees with eth-account on device signatures:
keccak-256 on random inputs of every padding length, the EIP-712 domain of a deployment,
and public-key recovery on every case in tests/portal/signature_cases (valid ones and one
file per way of being wrong, signatures made for another deployment and amounts other
than the signed one among them)."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from ledger_service import devices

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "portal" / "run_signatures_js.js"
CASES = sorted((ROOT / "tests" / "portal" / "signature_cases").glob("*.json"))


@pytest.fixture(scope="module")
def run(node_binary: str) -> Callable[..., object]:
    """Runs run_signatures_js.js with the given arguments and returns its JSON answer."""

    def run_js(*args: str) -> object:
        out = subprocess.run(
            [node_binary, str(RUNNER), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(out.stdout)

    return run_js


@pytest.fixture(scope="module")
def js_results(run: Callable[..., object]) -> dict:
    """signatures.js's verdict on every case, from one Node process."""
    return run(*map(str, CASES))  # type: ignore[return-value]


def test_there_are_valid_and_broken_cases():
    wants = [json.loads(p.read_text())["want"]["ok"] for p in CASES]
    assert True in wants and False in wants and len(CASES) >= 10


def test_signatures_for_another_deployment_recover_to_another_key_in_js(js_results: dict):
    for name in ("signed-for-another-chain", "signed-for-another-contract"):
        case = json.loads(
            (ROOT / "tests" / "portal" / "signature_cases" / f"{name}.json").read_text()
        )
        signer = case["event"]["data"]["signer"]
        assert js_results[name]["recovered"] not in (None, signer)
        assert js_results[name]["ok"] is False


def test_domain_separators_match_eth_account(run):
    cmd = devices.StoreCommand(
        "23456789ABCDEFGH8", "redeem", "S1", "", "2026-11-24T06:17:10.123Z", "c-domain-0001"
    )
    domains = [
        devices.SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
        devices.SigningDomain(1, "0x0000000000000000000000000000000000000001"),
        devices.SigningDomain(2**53 - 1, "0xffffffffffffffffffffffffffffffffffffffff"),
    ]
    want = [encode_typed_data(full_message=cmd.typed_data(d)).header.hex() for d in domains]
    assert run("--domain", *(f"{d.chain_id}:{d.contract}" for d in domains)) == want


def test_an_amount_other_than_the_signed_one_fails_naming_both(node_binary: str):
    case = ROOT / "tests" / "portal" / "signature_cases" / "amount-differs-from-the-signed-one.json"
    reason = _reason(node_binary, case)
    assert "signed amount 2500, but this event records 9000" in reason


def test_an_amount_signed_under_version_2_is_called_the_servers_word(node_binary: str):
    case = ROOT / "tests" / "portal" / "signature_cases" / "version-2-amount-not-signed.json"
    reason = _reason(node_binary, case)
    assert "domain version 2, which names no amount" in reason
    assert "the amount 2500 this event records is the server's word alone" in reason


def _reason(node_binary: str, case: Path) -> str:
    """signatures.js's words on one case file."""
    script = (
        "const sig = require(process.argv[1]);"
        "const c = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));"
        "process.stdout.write(sig.checkEvent(c.event, c.card_number, c.store_keys,"
        " c.deployments).reason);"
    )
    out = subprocess.run(
        [node_binary, "-e", script, str(ROOT / "portal" / "static" / "signatures.js"), str(case)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_js_recovers_what_eth_account_recovers(path: Path, js_results: dict):
    want = json.loads(path.read_text())["want"]
    assert js_results[path.stem] == want


def test_keccak_matches_on_every_padding_boundary(run):
    rng = random.Random(9162)
    lengths = [0, 1, 31, 32, 33, 135, 136, 137, 271, 272, 273, 1000]
    inputs = [bytes(rng.randrange(256) for _ in range(n)) for n in lengths]
    assert run("--keccak", *(b.hex() for b in inputs)) == [keccak(b).hex() for b in inputs]


def test_js_recovers_fresh_signatures_from_random_keys(run, tmp_path):
    # Not only the committed cases: new keys and commands made now, checked both ways.
    rng = random.Random()
    files = []
    for i in range(5):
        key = Account.from_key(rng.randbytes(32))
        client_id = f"c-fresh-{rng.randrange(10**9):09d}"
        amount = rng.choice([1, rng.randrange(1, 2**53)])
        cmd = devices.StoreCommand(
            "23456789ABCDEFGH8",
            "redeem",
            f"S{i}",
            "",
            devices.timestamp(datetime.now(UTC)),
            client_id,
            amount,
        )
        domain = devices.SigningDomain(rng.randrange(1, 2**53), "0x" + rng.randbytes(20).hex())
        domain = devices.SigningDomain.from_json(domain.to_json())
        event = {
            "type": "REDEEMED",
            "store_id": cmd.store,
            "data": {
                "amount": amount,
                **devices.sign(cmd, key.key, domain).to_json(),
                "deployment": domain.to_json(),
            },
        }
        path = tmp_path / f"fresh-{i}.json"
        path.write_text(
            json.dumps(
                {
                    "card_number": cmd.card,
                    "event": event,
                    "store_keys": {cmd.store: [key.address]},
                    "deployments": [domain.to_json()],
                }
            )
        )
        files.append((path, key.address, amount))
    results = run(*(str(p) for p, _, _ in files))
    for path, address, amount in files:
        assert results[path.stem] == {
            "ok": True,
            "registered": True,
            "recovered": address,
            "bound": True,
            "version": 3,
            "signed_amount": amount,
            "amount": amount,
        }
