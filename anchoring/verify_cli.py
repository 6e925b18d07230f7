"""``cardtrail verify BUNDLE.json --rpc URL``: the auditor's verifier.

It needs the bundle and a chain RPC endpoint, nothing else: no database, no server, no
Flask. It runs every check of :func:`anchoring.bundle.verify_bundle`, asking the contract
for ``rootAt(tree_size)`` and ``latestCheckpoint()``, prints one line per check (or
``--json``) and exits 0 only when every check holds (1 otherwise). A bundle a little older
than the contract's newest checkpoint holds with a warning, unless ``--require-fresh``;
so does a ``cardtrail-bundle/1`` bundle, which cannot prove that it shows the card's
latest event (the check ``complete``).

Which contract: the pinned issuer's (``--contract``/``--chain-id``, or ``--issuer`` with
a descriptor file or URL), and a bundle naming another fails the ``issuer`` check. Without
a pin the contract is the one the bundle names, and the ``issuer`` check warns so (fails
with ``--require-pinned``): a look-alike server can deploy a contract of its own.

A document that is not a bundle fails the format check before any chain is asked:

    >>> from anchoring.verify_cli import verify_document
    >>> report = verify_document({"format": "nonsense"}, "http://127.0.0.1:1")
    >>> report.ok, report.checks[0].reason
    (False, "unknown format 'nonsense', want 'cardtrail-bundle/2' or 'cardtrail-bundle/1'")
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from anchoring.bundle import (
    BundleReport,
    ChainLatest,
    IssuerPolicy,
    LatestAt,
    PinnedIssuer,
    RootAt,
    parse_bundle,
    summarise,
    verify_bundle,
)
from anchoring.chain import AnchorReader
from anchoring.errors import BundleError, Error
from anchoring.issuer_fetch import load_descriptor

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


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
    raw: Any,
    rpc_url: str,
    card_number: str | None = None,
    require_fresh: bool = False,
    issuer: IssuerPolicy | None = None,
) -> BundleReport:
    """Verify a decoded bundle against the chain behind ``rpc_url``.

    The chain is asked about the pinned contract when ``issuer`` pins one, never the
    bundle's; without a pin (the default policy), about the contract the bundle names.
    """
    policy = issuer or IssuerPolicy()
    try:
        bundle = parse_bundle(raw)
    except BundleError:
        return verify_bundle(raw, _unreachable(Error("not asked")), card_number=card_number)
    not_asked = _unreachable(Error("not asked"))
    if bundle.checkpoint is None:
        return verify_bundle(bundle, not_asked, card_number=card_number, issuer=policy)
    contract = policy.pinned.contract if policy.pinned else bundle.checkpoint.contract
    try:
        reader = AnchorReader(rpc_url, contract)
        chain_id = reader.chain_id()
    except Error as exc:
        # Without the chain id the network check cannot run; the anchor check then says why.
        return verify_bundle(bundle, _unreachable(exc), card_number=card_number, issuer=policy)
    return verify_bundle(
        bundle,
        reader.root_at,
        chain_id=chain_id,
        card_number=card_number,
        latest=chain_latest(reader, bundle.checkpoint.block_number),
        require_fresh=require_fresh,
        issuer=policy,
    )


def issuer_policy(
    contract: str | None, chain_id: int | None, issuer: str | None, require_pinned: bool
) -> IssuerPolicy:
    """The ``issuer`` check's policy from the command's options; a usage error for a half
    or double pin, or a descriptor that cannot be loaded."""
    if issuer is not None and (contract is not None or chain_id is not None):
        raise click.UsageError("give either --issuer or --contract with --chain-id, not both")
    if (contract is None) != (chain_id is None):
        raise click.UsageError("--contract and --chain-id go together")
    if issuer is not None:
        try:
            descriptor = load_descriptor(issuer)
        except Error as exc:
            raise click.BadParameter(str(exc), param_hint="--issuer") from None
        return IssuerPolicy(descriptor.pin(issuer), require_pinned)
    if contract is not None and chain_id is not None:
        if not _ADDRESS.fullmatch(contract):
            raise click.BadParameter("a 0x-prefixed 20-byte address", param_hint="--contract")
        return IssuerPolicy(PinnedIssuer(chain_id, contract), require_pinned)
    return IssuerPolicy(None, require_pinned)


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
    help="JSON-RPC endpoint of the issuer's chain (any node you trust).",
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
@click.option(
    "--contract",
    default=None,
    metavar="ADDRESS",
    help="Pin the issuer's contract (with --chain-id): ask only this contract.",
)
@click.option(
    "--chain-id",
    type=click.IntRange(min=1),
    default=None,
    metavar="ID",
    help="Pin the chain the issuer's contract is on (with --contract).",
)
@click.option(
    "--issuer",
    default=None,
    metavar="FILE_OR_URL",
    help="Pin the issuer by its descriptor (cardtrail-issuer/1): a file, or an http(s) URL "
    "such as https://cards.example.com/.well-known/cardtrail-issuer.json.",
)
@click.option(
    "--require-pinned",
    is_flag=True,
    help="Fail (not just warn) when no issuer is pinned.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_command(
    bundle_file: Any,
    rpc_url: str,
    card_number: str | None,
    require_fresh: bool,
    contract: str | None,
    chain_id: int | None,
    issuer: str | None,
    require_pinned: bool,
    as_json: bool,
) -> None:
    """Verify a proof bundle against the chain; exit 0 only if every check holds.

    Uses nothing but the bundle and the RPC endpoint: every event's card commitment, the
    per-card chain of seq and prev_event_hash, each inclusion proof, the contract's
    rootAt(tree_size), and latestCheckpoint() for freshness. A bundle older than the
    newest checkpoint by less than 600 s of chain time is a warning (exit 0), by more a
    failure; --require-fresh makes any older bundle a failure.

    Pin the issuer (--issuer, or --contract with --chain-id) so that a bundle naming a
    contract of its own fails: without a pin the contract asked is the bundle's own, which
    is a warning (a failure with --require-pinned).
    """
    policy = issuer_policy(contract, chain_id, issuer, require_pinned)
    name = getattr(bundle_file, "name", "BUNDLE")
    try:
        raw = json.loads(bundle_file.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.BadParameter(f"{Path(str(name)).name} is not JSON: {exc}") from None
    report = verify_document(raw, rpc_url, card_number, require_fresh, policy)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        for line in [*_header(report), *summarise(report)]:
            click.echo(line)
    raise SystemExit(0 if report.ok else 1)
