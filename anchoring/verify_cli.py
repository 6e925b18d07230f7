"""``cardtrail verify BUNDLE.json --rpc URL``: the auditor's verifier.

It needs the bundle and a chain RPC endpoint, nothing else: no database, no server, no
Flask. It runs every check of :func:`anchoring.bundle.verify_bundle`, asking the contract
named in the bundle for ``rootAt(tree_size)``, prints one line per check (or ``--json``)
and exits 0 only when every check holds (1 otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from anchoring.bundle import BundleReport, RootAt, parse_bundle, summarise, verify_bundle
from anchoring.chain import AnchorReader
from anchoring.errors import BundleError, Error


def _unreachable(error: Error) -> RootAt:
    def root_at(tree_size: int) -> bytes:
        raise error

    return root_at


def verify_document(raw: Any, rpc_url: str, card_number: str | None = None) -> BundleReport:
    """Verify a decoded bundle against the chain behind ``rpc_url``."""
    try:
        bundle = parse_bundle(raw)
    except BundleError:
        return verify_bundle(raw, _unreachable(Error("not asked")), card_number=card_number)
    if bundle.checkpoint is None:
        return verify_bundle(bundle, _unreachable(Error("not asked")), card_number=card_number)
    try:
        reader = AnchorReader(rpc_url, bundle.checkpoint.contract)
        chain_id = reader.chain_id()
    except Error as exc:
        # Without the chain id the network check cannot run; the anchor check then says why.
        return verify_bundle(bundle, _unreachable(exc), card_number=card_number)
    return verify_bundle(bundle, reader.root_at, chain_id=chain_id, card_number=card_number)


def _header(report: BundleReport) -> list[str]:
    bundle = report.bundle
    if bundle is None:
        return []
    lines = [f"card        {bundle.card_number}"]
    cp = bundle.checkpoint
    if cp is not None:
        lines.append(f"checkpoint  size {cp.tree_size}, root {cp.root.hex()}")
        lines.append(f"anchored    chain {cp.chain_id}, contract {cp.contract}"
                     + (f", block {cp.block_number}" if cp.block_number is not None else "")
                     + (f", tx {cp.tx_hash}" if cp.tx_hash else ""))
    lines.append(f"events      {len(bundle.events)} proven, {len(bundle.pending)} pending")
    return [*lines, ""]


@click.command("verify")
@click.argument("bundle_file", type=click.File("rb"), metavar="BUNDLE.json")
@click.option("--rpc", "rpc_url", required=True, metavar="URL",
              help="JSON-RPC endpoint of the chain the bundle names (any node you trust).")
@click.option("--card", "card_number", default=None, metavar="NUMBER",
              help="Also check that the bundle is about this card (normalised form).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_command(bundle_file: Any, rpc_url: str, card_number: str | None, as_json: bool) -> None:
    """Verify a proof bundle against the chain; exit 0 only if every check holds.

    Uses nothing but the bundle and the RPC endpoint: every event's card commitment, the
    per-card chain of seq and prev_event_hash, each inclusion proof, and the contract's
    rootAt(tree_size).
    """
    name = getattr(bundle_file, "name", "BUNDLE")
    try:
        raw = json.loads(bundle_file.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.BadParameter(f"{Path(str(name)).name} is not JSON: {exc}") from None
    report = verify_document(raw, rpc_url, card_number)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        for line in [*_header(report), *summarise(report)]:
            click.echo(line)
    raise SystemExit(0 if report.ok else 1)
