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
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import click

from anchoring.chain import AnchorEvent, AnchorReader
from anchoring.errors import Error
from anchoring.monitor import CardMapReplay, Monitor, event_position_hook
from anchoring.monitor_state import MonitorError, MonitorState
from anchoring.monitor_store import load_state, save_state

LOG_BLOCKS = 5_000
"""Blocks per ``eth_getLogs`` request: public endpoints refuse very wide ranges."""
MAX_REPLY_BYTES = 32 * 1024 * 1024
HTTP_SECONDS = 30.0
MAX_RATE_LIMIT_WAIT = 60
RATE_LIMIT_TRIES = 8
SAVE_SECONDS = 60.0
"""While catching up, how often the state is saved (and always at the end of a run)."""
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


class Chain(Protocol):
    """What the monitor reads from the chain (:class:`anchoring.chain.AnchorReader`)."""

    def chain_id(self) -> int:
        """The chain's id."""

    def block_number(self) -> int:
        """The latest block's number."""

    def root_at(self, tree_size: int) -> bytes:
        """The contract's ``rootAt(tree_size)``."""

    def anchored_events(self, from_block: int, to_block: int) -> list[AnchorEvent]:
        """The ``CheckpointAnchored`` logs of blocks ``from_block``..``to_block``."""


class Log(Protocol):
    """What the monitor reads from the server (:class:`PublicApi`)."""

    def leaf_pages(self, start: int, end: int) -> Iterable[Sequence[bytes]]:
        """Leaf inputs ``[start, end)``, page by page."""

    def consistency_proof(self, first: int, second: int) -> Sequence[bytes]:
        """The consistency proof from ``first`` to ``second``."""


def anchored_events(reader: Chain, first: int, last: int) -> Iterator[AnchorEvent]:
    """``CheckpointAnchored`` logs of blocks ``first``..``last``, in chain order."""
    for low in range(first, last + 1, LOG_BLOCKS):
        high = min(low + LOG_BLOCKS - 1, last)
        found = reader.anchored_events(low, high)
        yield from sorted(found, key=lambda e: (e.block_number, e.index))


class _Saver:
    """Saves the state pair after a checkpoint once SAVE_SECONDS have passed since the last
    save: each save writes the whole card map, too much to do after every checkpoint."""

    def __init__(self, path: Path, replay: CardMapReplay, clock: Callable[[], float]) -> None:
        self.path, self.replay, self.clock = path, replay, clock
        self.saved_at = clock()

    def __call__(self, state: MonitorState) -> None:
        now = self.clock()
        if now - self.saved_at >= SAVE_SECONDS:
            self.save(state)
            self.saved_at = now

    def save(self, state: MonitorState) -> None:
        """Save the state and the replay now."""
        save_state(self.path, state, self.replay)


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
    chain = AnchorReader(rpc, contract)
    return follow(chain, PublicApi(api_url), contract, state_path, from_block, progress)


def follow(
    chain: Chain,
    log: Log,
    contract: str,
    state_path: Path | None,
    from_block: int,
    progress: bool,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[MonitorState, str | None]:
    """:func:`run_monitor` on a chain and a log already connected."""
    chain_id = chain.chain_id()
    loaded = load_state(state_path, contract, chain_id, from_block)
    state, replay = loaded.state, loaded.replay
    if replay is None:
        if state.tree_size:
            click.echo(
                f"state file {state_path} holds no card map (an older monitor wrote it): "
                "checking the log from leaf 0 once, to rebuild the map",
                err=True,
            )
            state = MonitorState(contract=contract, chain_id=chain_id, last_block=from_block)
        replay = CardMapReplay()
    head = chain.block_number()
    saver = _Saver(state_path, replay, clock) if state_path is not None else None
    monitor = Monitor(
        state,
        log.leaf_pages,
        log.consistency_proof,
        chain.root_at,
        hooks=[event_position_hook, replay],
        progress=_Progress(progress),
        checkpointed=saver,
    )
    divergence = monitor.check(anchored_events(chain, state.last_block, head))
    if divergence is None:
        state.last_block = max(state.last_block, head)
        if saver is not None:
            saver.save(state)
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
    help=(
        "Resume from and save to this JSON file (tree size, root, frontier, last block) "
        "and the card-map file beside it that it names."
    ),
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
    /api/v1/log/leaves and consistency proofs; every CARD_MAP leaf against the map of the
    events before it. With --state, a run resumes where the last one stopped, map
    included. Exit 0 when all hold, 1 at the first divergence (described), 3 when the
    checks could not run.
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
