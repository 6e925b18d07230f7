"""Compile contracts/LedgerAnchor.sol offline and write the committed artifact beside it.

    .venv/bin/python -m scripts.compile_contracts           # writes contracts/LedgerAnchor.json
    .venv/bin/python -m scripts.compile_contracts --check   # exit 1 if the artifact is stale

The compiler is the pinned npm ``solc`` package (solcjs) in ``node_modules``, driven through
py-solc-x. py-solc-x expects a native ``solc`` executable that answers ``--version`` and
``--standard-json``; the ``solcjs`` command line prints a warning line before its JSON, so
this script hands py-solc-x a small Node program that calls the solc module's ``compile``
directly. Version and settings come from ``contracts/compiler.json``, which
``hardhat.config.js`` reads too, so both toolchains produce the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import solcx

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "contracts"
COMPILER_CONFIG = CONTRACTS / "compiler.json"
SOLC_MODULE = ROOT / "node_modules" / "solc"
CONTRACT_NAME = "LedgerAnchor"
# The same source unit name that Hardhat uses, so both compilers see identical input.
SOURCE_NAME = f"contracts/{CONTRACT_NAME}.sol"
ARTIFACT = CONTRACTS / f"{CONTRACT_NAME}.json"

_SHIM = """#!{node}
// Lets py-solc-x drive the solcjs module as if it were a native solc binary.
const solc = require({module});
const args = process.argv.slice(2);
if (args.includes("--version")) {{
  process.stdout.write("solc, the solidity compiler commandline interface\\n");
  process.stdout.write("Version: " + solc.version() + "\\n");
}} else if (args.includes("--standard-json")) {{
  process.stdout.write(solc.compile(require("fs").readFileSync(0, "utf8")));
}} else {{
  process.stderr.write("only --version and --standard-json are supported\\n");
  process.exit(2);
}}
"""


class CompileError(RuntimeError):
    """The toolchain is missing or the contract does not compile."""


def compiler_config() -> dict[str, Any]:
    """The pinned compiler version and settings shared with hardhat.config.js."""
    return json.loads(COMPILER_CONFIG.read_text())


def _write_shim(directory: Path) -> Path:
    node = shutil.which("node")
    if node is None:
        raise CompileError("node is not on PATH; it runs the pinned solcjs compiler")
    if not (SOLC_MODULE / "soljson.js").is_file():
        raise CompileError(f"{SOLC_MODULE} is missing: run `make install` (npm install)")
    shim = directory / "solc"
    shim.write_text(_SHIM.format(node=node, module=json.dumps(str(SOLC_MODULE))))
    shim.chmod(0o755)
    return shim


def standard_input(source: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The solc standard-JSON input for the contract with the given settings."""
    return {
        "language": "Solidity",
        "sources": {SOURCE_NAME: {"content": source}},
        "settings": {
            **settings,
            "outputSelection": {
                SOURCE_NAME: {
                    CONTRACT_NAME: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]
                }
            },
        },
    }


def build_artifact() -> dict[str, Any]:
    """Compile the contract with solcjs through py-solc-x and return the artifact."""
    config = compiler_config()
    source = (CONTRACTS / f"{CONTRACT_NAME}.sol").read_text()
    with tempfile.TemporaryDirectory(prefix="cardtrail-solc-") as tmp:
        shim = _write_shim(Path(tmp))
        long_version = solcx.wrapper.get_version_str_from_solc_binary(shim)
        if not long_version.startswith(config["version"] + "+"):
            raise CompileError(f"node_modules holds solc {long_version}, want {config['version']}")
        try:
            output = solcx.compile_standard(
                standard_input(source, config["settings"]), solc_binary=shim
            )
        except solcx.exceptions.SolcError as exc:
            raise CompileError(str(exc)) from None
    warnings = [e["formattedMessage"] for e in output.get("errors", [])]
    if warnings:
        raise CompileError("the contract compiles with warnings:\n" + "\n".join(warnings))
    compiled = output["contracts"][SOURCE_NAME][CONTRACT_NAME]
    return {
        "contractName": CONTRACT_NAME,
        "sourceName": SOURCE_NAME,
        "sourceSha256": hashlib.sha256(source.encode()).hexdigest(),
        "compiler": {"name": "solc", "version": long_version, "settings": config["settings"]},
        "abi": compiled["abi"],
        "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
        "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
    }


def render(artifact: dict[str, Any]) -> str:
    """The artifact as it is committed: stable key order, two-space indent."""
    return json.dumps(artifact, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the artifact, or with ``--check`` report whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the artifact is stale"
    )
    args = parser.parse_args(argv)
    try:
        text = render(build_artifact())
    except CompileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if not ARTIFACT.is_file() or ARTIFACT.read_text() != text:
            print(f"{ARTIFACT.relative_to(ROOT)} is stale: run make compile")
            return 1
        print(f"{ARTIFACT.relative_to(ROOT)} is up to date")
        return 0
    ARTIFACT.write_text(text)
    print(f"wrote {ARTIFACT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
