"""``cardtrail monitor --api URL --rpc URL --contract ADDRESS [--state FILE]``.

Follows a deployment from public data only — the contract's logs over any RPC endpoint
and the leaves the server publishes — with no database (see :mod:`anchoring.monitor`).
Exit 0 when every anchored checkpoint holds, 1 at the first divergence (described on
the last line), 3 when the checks could not run (endpoint down, bad state file).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import click

from anchoring.chain import AnchorEvent, AnchorReader
from anchoring.errors import Error
from anchoring.monitor import (
    CardMapReplay,
    LeafHook,
    Monitor,
    MonitorError,
    MonitorState,
    event_position_hook,
    needs_replay,
)

LOG_BLOCKS = 5_000
"""Blocks per ``eth_getLogs`` request: public endpoints refuse very wide ranges."""
MAX_REPLY_BYTES = 32 * 1024 * 1024
HTTP_SECONDS = 30.0
MAX_RATE_LIMIT_WAIT = 60
RATE_LIMIT_TRIES = 8
EXIT_DIVERGED = 1
EXIT_UNCHECKED = 3


class PublicApi:
    """The server's public log routes, over HTTP, waiting out rate limits."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MonitorError(f"--api must be an http(s) URL, got {base_url!r}")
        self.base = base_url.rstrip("/")

    def get(self, path: str, **query: int) -> Any:
        """The JSON body of ``GET path?query``."""
        url = f"{self.base}{path}?{urlencode(query)}"
        for _ in range(RATE_LIMIT_TRIES):
            try:
                with urllib.request.urlopen(url, timeout=HTTP_SECONDS) as reply:
                    body = reply.read(MAX_REPLY_BYTES + 1)
            except urllib.error.HTTPError as exc:
                if exc.code == 429:
                    wait = exc.headers.get("Retry-After", "1")
                    time.sleep(min(int(wait) if wait.isdigit() else 1, MAX_RATE_LIMIT_WAIT))
                    continue
                raise MonitorError(f"{url}: the server answered {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, OSError) as exc:
                raise MonitorError(f"{url}: {getattr(exc, 'reason', exc)}") from None
            if len(body) > MAX_REPLY_BYTES:
                raise MonitorError(f"{url}: reply larger than {MAX_REPLY_BYTES} bytes")
            try:
                return json.loads(body)
            except ValueError:
                raise MonitorError(f"{url}: the reply is not JSON") from None
        raise MonitorError(f"{url}: still rate-limited after {RATE_LIMIT_TRIES} tries")

    def leaf_pages(self, start: int, end: int) -> Iterator[Sequence[bytes]]:
        """Leaf inputs ``[start, end)``, page by page, as served."""
        while start < end:
            page = self.get("/api/v1/log/leaves", start=start, end=end)
            try:
                leaves = [base64.b64decode(leaf, validate=True) for leaf in page["leaves"]]
            except (KeyError, TypeError, binascii.Error) as exc:
                raise MonitorError(f"leaves from {start}: malformed page ({exc})") from None
            if not leaves:
                return
            yield leaves
            start += len(leaves)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The server's consistency proof from ``first`` to ``second``."""
        reply = self.get("/api/v1/log/proofs/consistency", first=first, second=second)
        try:
            return [bytes.fromhex(h) for h in reply["proof"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitorError(f"consistency proof {first}→{second}: malformed ({exc})") from None


def anchored_events(reader: AnchorReader, first: int, last: int) -> Iterator[AnchorEvent]:
    """``CheckpointAnchored`` logs of blocks ``first``..``last``, in chain order."""
    for low in range(first, last + 1, LOG_BLOCKS):
        high = min(low + LOG_BLOCKS - 1, last)
        found = reader.anchored_events(low, high)
        yield from sorted(found, key=lambda e: (e.block_number, e.index))


def save_state(path: Path, state: MonitorState) -> None:
    """Write the state file whole (a crash leaves the old one or the new one)."""
    staging = path.with_name(path.name + ".new")
    staging.write_text(state.dumps(), encoding="utf-8")
    os.replace(staging, path)


def load_state(path: Path | None, contract: str, chain_id: int, from_block: int) -> MonitorState:
    """The saved state, or a fresh one; MonitorError if it is another deployment's."""
    fresh = MonitorState(contract=contract, chain_id=chain_id, last_block=from_block)
    if path is None or not path.exists():
        return fresh
    try:
        state = MonitorState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise MonitorError(f"state file {path}: {exc}") from None
    if state.contract.lower() != contract.lower() or state.chain_id != chain_id:
        raise MonitorError(
            f"state file {path} follows contract {state.contract} on chain {state.chain_id}, "
            f"not {contract} on chain {chain_id}"
        )
    return state


class _Progress:
    """One line on stderr at most every second, and at the end of each checkpoint."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = 0.0

    def __call__(self, leaves: int, target: int, checkpoints: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.shown < 1.0 and leaves < target):
            return
        self.shown = now
        click.echo(f"  leaves {leaves}/{target}, {checkpoints} checkpoint(s) checked", err=True)


def run_monitor(
    api_url: str,
    rpc: str | Any,
    contract: str,
    state_path: Path | None,
    from_block: int,
    progress: bool,
) -> tuple[MonitorState, str | None]:
    """Check the deployment; the state reached and the first divergence (None if none)."""
    reader = AnchorReader(rpc, contract)
    api = PublicApi(api_url)
    hooks: list[LeafHook] = [event_position_hook, CardMapReplay()]
    chain_id = reader.chain_id()
    state = load_state(state_path, contract, chain_id, from_block)
    if needs_replay(hooks) and state.tree_size:
        # A stateful hook (the card map) must see every event: start again from leaf 0.
        state = MonitorState(contract=contract, chain_id=chain_id, last_block=from_block)
    head = reader.block_number()
    monitor = Monitor(
        state,
        api.leaf_pages,
        api.consistency_proof,
        reader.root_at,
        hooks=hooks,
        progress=_Progress(progress),
        checkpointed=(lambda s: save_state(state_path, s)) if state_path else None,
    )
    divergence = monitor.check(anchored_events(reader, state.last_block, head))
    if divergence is None:
        state.last_block = max(state.last_block, head)
        if state_path is not None:
            save_state(state_path, state)
    return state, None if divergence is None else str(divergence)


@click.command("monitor")
@click.option("--api", "api_url", required=True, metavar="URL", help="The server's base URL.")
@click.option(
    "--rpc", "rpc_url", required=True, metavar="URL", help="Any RPC endpoint of the chain."
)
@click.option(
    "--contract", required=True, metavar="ADDRESS", help="The issuer's LedgerAnchor (pinned)."
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Resume from and save to this JSON file (tree size, root, frontier, last block).",
)
@click.option(
    "--from-block",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Where a fresh monitor starts reading logs (the deployment block).",
)
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def monitor_command(
    api_url: str,
    rpc_url: str,
    contract: str,
    state_path: Path | None,
    from_block: int,
    quiet: bool,
) -> None:
    """Check every anchored root against the leaves the server publishes.

    Public data only: the contract's CheckpointAnchored logs and rootAt, the server's
    /api/v1/log/leaves and consistency proofs. Exit 0 when all hold, 1 at the first
    divergence (described), 3 when the checks could not run.
    """
    try:
        state, divergence = run_monitor(
            api_url, rpc_url, contract, state_path, from_block, progress=not quiet
        )
    except Error as exc:
        click.echo(f"could not check: {exc}", err=True)
        sys.exit(EXIT_UNCHECKED)
    if divergence is not None:
        click.echo(f"checked up to size {state.tree_size}, then:")
        click.echo(f"DIVERGENCE: {divergence}")
        sys.exit(EXIT_DIVERGED)
    click.echo(
        f"OK  {state.checkpoints} checkpoint(s) hold; tree size {state.tree_size}, "
        f"root {state.root.hex()}, up to block {state.last_block}"
    )
