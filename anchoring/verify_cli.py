"""``cardtrail verify BUNDLE.json --rpc URL``: the auditor's verifier.

It needs the bundle and a chain RPC endpoint, nothing else: no database, no server, no
Flask. It runs every check of :func:`anchoring.bundle.verify_bundle`, asking the contract
named in the bundle for ``rootAt(tree_size)`` and ``latestCheckpoint()``, prints one line
per check (or ``--json``) and exits 0 only when every check holds (1 otherwise). A bundle
a little older than the contract's newest checkpoint holds with a warning, unless
``--require-fresh`` is given; so does a ``cardtrail-bundle/1`` bundle, which cannot prove
that it shows the card's latest event (the check ``complete``).

A document that is not a bundle fails the format check before any chain is asked:

    >>> from anchoring.verify_cli import verify_document
    >>> report = verify_document({"format": "nonsense"}, "http://127.0.0.1:1")
    >>> report.ok, report.checks[0].reason
    (False, "unknown format 'nonsense', want 'cardtrail-bundle/2' or 'cardtrail-bundle/1'")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from anchoring.bundle import (
    BundleReport,
    ChainLatest,
    LatestAt,
    RootAt,
    parse_bundle,
    summarise,
    verify_bundle,
)
from anchoring.chain import AnchorReader
from anchoring.errors import BundleError, Error


def _unreachable(error: Error) -> RootAt:
    def root_at(tree_size: int) -> bytes:
        raise error

    return root_at


def newer_age(reader: AnchorReader, tree_size: int, block_hint: int | None) -> int | None:
    """Seconds of chain time since the first checkpoint larger than ``tree_size`` was anchored.

    The logs are searched from ``block_hint`` (the bundle's ``block_number``) when the
    bundle's own checkpoint is found there, else from the first block: a false hint can
    only cost a longer search, never skip a newer checkpoint. None if none is found.
    """
    found = reader.anchored_events(block_hint or 0)
    if block_hint and not any(e.checkpoint.tree_size == tree_size for e in found):
        found = reader.anchored_events(0)
    newer = [e for e in found if e.checkpoint.tree_size > tree_size]
    if not newer:
        return None
    first = min(newer, key=lambda e: e.checkpoint.tree_size)
    return max(0, reader.block_timestamp("latest") - reader.block_timestamp(first.block_number))


def chain_latest(reader: AnchorReader, block_hint: int | None) -> LatestAt:
    """The ``latest`` callable of :func:`verify_bundle` for the contract behind ``reader``."""

    def latest(tree_size: int) -> ChainLatest:
        head = reader.latest_checkpoint()
        if head.tree_size <= tree_size:
            return ChainLatest(head.tree_size)
        return ChainLatest(head.tree_size, newer_age(reader, tree_size, block_hint))

    return latest


def verify_document(
    raw: Any, rpc_url: str, card_number: str | None = None, require_fresh: bool = False
) -> BundleReport:
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
    return verify_bundle(
        bundle,
        reader.root_at,
        chain_id=chain_id,
        card_number=card_number,
        latest=chain_latest(reader, bundle.checkpoint.block_number),
        require_fresh=require_fresh,
    )


def _header(report: BundleReport) -> list[str]:
    bundle = report.bundle
    if bundle is None:
        return []
    lines = [f"card        {bundle.card_number}"]
    cp = bundle.checkpoint
    if cp is not None:
        lines.append(f"checkpoint  size {cp.tree_size}, root {cp.root.hex()}")
        lines.append(
            f"anchored    chain {cp.chain_id}, contract {cp.contract}"
            + (f", block {cp.block_number}" if cp.block_number is not None else "")
            + (f", tx {cp.tx_hash}" if cp.tx_hash else "")
        )
    lines.append(f"events      {len(bundle.events)} proven, {len(bundle.pending)} pending")
    return [*lines, ""]


@click.command("verify")
@click.argument("bundle_file", type=click.File("rb"), metavar="BUNDLE.json")
@click.option(
    "--rpc",
    "rpc_url",
    required=True,
    metavar="URL",
    help="JSON-RPC endpoint of the chain the bundle names (any node you trust).",
)
@click.option(
    "--card",
    "card_number",
    default=None,
    metavar="NUMBER",
    help="Also check that the bundle is about this card (normalised form).",
)
@click.option(
    "--require-fresh",
    is_flag=True,
    help="Fail (not just warn) when the contract has a newer checkpoint than the bundle's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_command(
    bundle_file: Any, rpc_url: str, card_number: str | None, require_fresh: bool, as_json: bool
) -> None:
    """Verify a proof bundle against the chain; exit 0 only if every check holds.

    Uses nothing but the bundle and the RPC endpoint: every event's card commitment, the
    per-card chain of seq and prev_event_hash, each inclusion proof, the contract's
    rootAt(tree_size), and latestCheckpoint() for freshness. A bundle older than the
    newest checkpoint by less than 600 s of chain time is a warning (exit 0), by more a
    failure; --require-fresh makes any older bundle a failure.
    """
    name = getattr(bundle_file, "name", "BUNDLE")
    try:
        raw = json.loads(bundle_file.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.BadParameter(f"{Path(str(name)).name} is not JSON: {exc}") from None
    report = verify_document(raw, rpc_url, card_number, require_fresh)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        for line in [*_header(report), *summarise(report)]:
            click.echo(line)
    raise SystemExit(0 if report.ok else 1)
