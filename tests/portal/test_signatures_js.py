"""signatures.js (the visitor's browser) agrees with eth-account on device signatures:
keccak-256 on random inputs of every padding length, and public-key recovery on every case
in tests/portal/signature_cases (valid ones and one file per way of being wrong)."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
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
            [node_binary, str(RUNNER), *args], capture_output=True, text=True, timeout=60,
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
        cmd = devices.StoreCommand(
            "23456789ABCDEFGH8",
            "redeem",
            f"S{i}",
            "",
            devices.timestamp(datetime.now(UTC)),
            client_id,
        )
        event = {
            "type": "REDEEMED",
            "store_id": cmd.store,
            "data": devices.sign(cmd, key.key).to_json(),
        }
        path = tmp_path / f"fresh-{i}.json"
        path.write_text(
            json.dumps(
                {"card_number": cmd.card, "event": event, "store_keys": {cmd.store: [key.address]}}
            )
        )
        files.append((path, key.address))
    results = run(*(str(p) for p, _ in files))
    for path, address in files:
        assert results[path.stem] == {"ok": True, "registered": True, "recovered": address}
