"""``cardtrail worker``: the anchoring worker on its own, for production.

In production the web app runs under gunicorn (several processes, none of which anchors)
and exactly one ``cardtrail worker`` runs beside it on the same database and chain
(docs/production.md). A second worker on the same database refuses to start
(:class:`~anchoring.worker.WorkerLock`). SIGTERM or Ctrl-C stops it between steps.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from anchoring.errors import Error as AnchoringPackageError
from anchoring.worker import Worker, WorkerLock, ensure_deployment
from cardtrail.run import anchor_key, connect_chain, worker_config
from ledger_service.cli_options import data_dir_option, load_settings, migrated_engine


@click.command("worker")
@data_dir_option
def worker_command(data_dir: Path | None) -> None:
    """Run only the anchoring worker (CHAIN_RPC_URL, ANCHOR_KEYSTORE, ANCHOR_* settings)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings(data_dir)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    try:
        with migrated_engine(settings) as engine:
            key = anchor_key(settings)
            w3 = connect_chain(settings, key)
            deployment = ensure_deployment(engine, w3, key, settings.dev_mode)
            worker = Worker(engine, w3, key, worker_config(settings))
            with WorkerLock(engine):
                previous = {
                    sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)
                }
                click.echo(
                    f"anchoring worker: contract {deployment.contract} on chain "
                    f"{deployment.chain_id}, account {key.address}",
                    err=True,
                )
                try:
                    worker.run(stop)
                finally:
                    for sig, handler in previous.items():
                        signal.signal(sig, handler)
    except AnchoringPackageError as exc:
        raise click.ClickException(str(exc)) from None
    if worker.error is not None:
        raise click.ClickException(f"anchoring stopped: {worker.error}")
    click.echo("anchoring worker stopped.", err=True)
