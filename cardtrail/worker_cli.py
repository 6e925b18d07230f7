"""``cardtrail worker``: the anchoring worker on its own, for production.

In production the web app runs under gunicorn (several processes, none of which anchors)
and exactly one ``cardtrail worker`` anchors beside it on the same database and chain
(docs/production.md). A second worker on the same database refuses to start
(:class:`~anchoring.worker.WorkerLock`), unless it runs with ``--standby``: then it waits
as a hot standby, with its key loaded and its chain connected, and takes over within
about a second when the worker holding the lock dies (on another host, say). SIGTERM or
Ctrl-C stops it between steps, or while it stands by.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from anchoring.errors import Error as AnchoringPackageError
from anchoring.worker import Worker, WorkerLock, ensure_deployment, wait_for_lock
from cardtrail.run import anchor_key, connect_chain, worker_config
from ledger_service.cli_options import data_dir_option, load_settings, migrated_engine


@contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` inside the block (the loop ends between steps)."""

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("worker")
@click.option(
    "--standby",
    is_flag=True,
    help="If another worker holds the lock, wait and take over when it stops "
    "(a hot standby) instead of exiting.",
)
@data_dir_option
def worker_command(standby: bool, data_dir: Path | None) -> None:
    """Run only the anchoring worker (CHAIN_RPC_URL, ANCHOR_KEYSTORE, ANCHOR_* settings)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings(data_dir)
    stop = threading.Event()
    worker: Worker | None = None
    try:
        with migrated_engine(settings) as engine, _stopped_by_signals(stop):
            key = anchor_key(settings)
            w3 = connect_chain(settings, key)
            lock = WorkerLock(engine)
            if standby:
                if not wait_for_lock(lock, stop):
                    click.echo("anchoring worker stopped while standing by.", err=True)
                    return
            else:
                lock.acquire()
            # Under the lock: two workers starting at once must not both deploy a contract.
            try:
                deployment = ensure_deployment(engine, w3, key, settings.dev_mode)
                worker = Worker(engine, w3, key, worker_config(settings))
                click.echo(
                    f"anchoring worker: contract {deployment.contract} on chain "
                    f"{deployment.chain_id}, account {key.address}",
                    err=True,
                )
                worker.run(stop)
            finally:
                lock.release()
    except AnchoringPackageError as exc:
        raise click.ClickException(str(exc)) from None
    if worker is not None and worker.error is not None:
        raise click.ClickException(f"anchoring stopped: {worker.error}")
    click.echo("anchoring worker stopped.", err=True)
