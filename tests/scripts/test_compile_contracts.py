"""Both compile paths reproduce the committed contract artifact, byte for byte.

The py-solc-x path drives the pinned solcjs module; the Hardhat path runs
``npx hardhat compile`` with the project's hardhat.config.js. Neither may touch the
network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts import compile_contracts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(compile_contracts.ARTIFACT.read_text())


def test_solcjs_compile_reproduces_the_committed_artifact_file():
    fresh = compile_contracts.render(compile_contracts.build_artifact())
    assert fresh == compile_contracts.ARTIFACT.read_text(), (
        "contracts/LedgerAnchor.json is stale: run make compile"
    )


def test_committed_artifact_names_the_pinned_compiler(committed):
    config = compile_contracts.compiler_config()
    assert committed["compiler"]["version"].startswith(config["version"] + "+commit.")
    assert committed["compiler"]["settings"] == config["settings"]
    assert config["settings"]["optimizer"]["enabled"] is True
    assert config["settings"]["metadata"] == {"bytecodeHash": "none"}


def test_check_mode_reports_a_stale_artifact(tmp_path, monkeypatch, capsys, committed):
    # The comparison is under test here, not the compiler (the test above covers it).
    monkeypatch.setattr(compile_contracts, "build_artifact", lambda: committed)
    stale = tmp_path / "LedgerAnchor.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(compile_contracts, "ARTIFACT", stale)
    monkeypatch.setattr(compile_contracts, "ROOT", tmp_path)
    assert compile_contracts.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert stale.read_text() == "{}\n"

    stale.write_text(compile_contracts.render(committed))
    assert compile_contracts.main(["--check"]) == 0


@pytest.mark.node
def test_hardhat_compile_matches_the_committed_artifact(tmp_path, committed):
    # A copy of the project's config and sources, so the test neither races other
    # compiles for hardhat-cache/ nor depends on what is in it.
    shutil.copy(ROOT / "hardhat.config.js", tmp_path)
    (tmp_path / "contracts").mkdir()
    for name in ("LedgerAnchor.sol", "compiler.json"):
        shutil.copy(ROOT / "contracts" / name, tmp_path / "contracts")
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    dead_proxy = "http://127.0.0.1:9"  # any download attempt fails instead of going out
    env = {
        **os.environ,
        "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
        "HTTP_PROXY": dead_proxy,
        "HTTPS_PROXY": dead_proxy,
        "http_proxy": dead_proxy,
        "https_proxy": dead_proxy,
    }
    result = subprocess.run(
        ["npx", "--no-install", "hardhat", "compile", "--force"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    out = tmp_path / "hardhat-artifacts"
    built = json.loads((out / "contracts" / "LedgerAnchor.sol" / "LedgerAnchor.json").read_text())
    assert built["bytecode"] == committed["bytecode"]
    assert built["deployedBytecode"] == committed["deployedBytecode"]
    assert built["abi"] == committed["abi"]
    (info_path,) = (out / "build-info").glob("*.json")
    info = json.loads(info_path.read_text())
    assert info["solcLongVersion"] == committed["compiler"]["version"]
    settings = {k: v for k, v in info["input"]["settings"].items() if k != "outputSelection"}
    assert settings == committed["compiler"]["settings"]
