"""``cardtrail up`` (run everything) and ``cardtrail deploy`` (put LedgerAnchor on a chain).

``up`` with no CHAIN_RPC_URL starts anvil on 127.0.0.1 with its chain kept in the data
directory, deploys LedgerAnchor if needed, runs the anchoring worker and the expiry
scheduler (:mod:`ledger_service.expiry_timer`) and serves the web app; Ctrl-C (or
SIGTERM) stops the web server, then the worker and the scheduler, then the node, in that
order, so the node writes its state after the last anchor. Links and QR codes name
CARDTRAIL_PUBLIC_BASE_URL, or without it (development only) the address ``up`` listens on.
In development without CARDTRAIL_ISSUER_FILE, ``up`` writes the issuer descriptor
(``issuer.json`` in the data directory) from the deployment it has just made or found;
in production the operator writes it (docs/issuer.md).

    >>> local_base_url("0.0.0.0", 8000), local_base_url("shop.test", 8080)
    ('http://127.0.0.1:8000', 'http://shop.test:8080')
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import click
from flask import Flask
from sqlalchemy.engine import Engine
from web3 import Web3
from werkzeug.serving import BaseWSGIServer, make_server

from anchoring import chain
from anchoring import checkpoints as cp
from anchoring.bundle import FORMAT as BUNDLE_FORMAT
from anchoring.db import read_transaction, write_transaction
from anchoring.errors import ChainUnavailable
from anchoring.errors import Error as AnchoringPackageError
from anchoring.issuer import IssuerDescriptor
from anchoring.keys import AnchorKey, resolve_key, write_private_file
from anchoring.node import LocalNode, start_anvil
from anchoring.worker import Worker, WorkerConfig, WorkerLock, deploy_contract, ensure_deployment
from cardtrail.access_log import MaskingRequestHandler
from cardtrail.app import create_app
from ledger_service import demo as demo_data
from ledger_service.cli_options import data_dir_option, load_settings, migrated_engine
from ledger_service.config import ConfigError, Settings, base_url_setting
from ledger_service.expiry_timer import ExpiryTimer
from ledger_service.runtime import runtime_of

logger = logging.getLogger("cardtrail")

CHAIN_DIR = "chain"
ANVIL_STATE = "anvil-state.json"


def anchor_key(settings: Settings) -> AnchorKey:
    """The anchoring key the settings call for (dev keystore only in development)."""
    return resolve_key(
        keystore=settings.anchor_keystore,
        password=settings.anchor_keystore_password,
        data_dir=settings.data_dir,
        dev_mode=settings.dev_mode,
    )


def worker_config(settings: Settings) -> WorkerConfig:
    """The worker's pacing from ANCHOR_INTERVAL, ANCHOR_MAX_PENDING, ANCHOR_CONFIRMATIONS."""
    return WorkerConfig(
        interval=settings.anchor_interval,
        max_pending=settings.anchor_max_pending,
        confirmations=settings.anchor_confirmations,
        dev_mode=settings.dev_mode,
    )


def connect_chain(settings: Settings, key: AnchorKey) -> Web3:
    """A Web3 on the deployment's chain; in development the key is funded on the local node."""
    w3 = chain.connect(settings.rpc_url)
    try:
        chain.ping(w3)
    except ChainUnavailable:
        hint = "start it with `cardtrail up`" if settings.dev_mode else "check CHAIN_RPC_URL"
        raise click.ClickException(
            f"cannot reach the chain at {settings.rpc_url}: {hint}"
        ) from None
    if settings.dev_mode:
        chain.fund_dev_account(w3, key.address)
    return w3


def start_local_node(settings: Settings) -> LocalNode:
    """anvil on 127.0.0.1:--chain-port, its chain kept in ``<data dir>/chain``."""
    chain_dir = settings.data_dir / CHAIN_DIR
    return start_anvil(
        settings.chain_port,
        state_path=chain_dir / ANVIL_STATE,
        log_path=chain_dir / "anvil.log",
    )


DEV_ISSUER_NAMES = ("CardTrail 开发环境", "CardTrail development")
"""The development issuer's names (Chinese, English) on a data directory without the demo."""


def dev_issuer(
    settings: Settings, deployment: cp.Deployment, names: tuple[str, str] = DEV_ISSUER_NAMES
) -> IssuerDescriptor:
    """The development issuer descriptor: this deployment's contract, served by ``up``."""
    return IssuerDescriptor(
        name_zh=names[0],
        name_en=names[1],
        chain_id=deployment.chain_id,
        contract=deployment.contract,
        deployment_block=deployment.block_number,
        api_origin=settings.base_url,
        rpc_urls=(settings.browser_rpc_url,),
        serves=BUNDLE_FORMAT,
    )


def write_dev_issuer(
    settings: Settings, deployment: cp.Deployment, *, demo: bool = False
) -> Path | None:
    """Write the development issuer descriptor where the portal reads it; never over a
    configured CARDTRAIL_ISSUER_FILE (the operator's), and never outside development.

    With ``demo`` (the data directory holds or is about to hold the demo merchant) the
    issuer carries the demo merchant's names, marked as a demonstration: the cards a
    visitor opens are that merchant's, not CardTrail's.
    """
    path = settings.issuer_descriptor_file
    if not settings.dev_mode or settings.issuer_file is not None or path is None:
        return None
    names = demo_data.ISSUER_NAMES if demo else DEV_ISSUER_NAMES
    descriptor = dev_issuer(settings, deployment, names)
    text = json.dumps(descriptor.to_json(), ensure_ascii=False, indent=2)
    # Replaced whole: the portal may read it at any moment.
    staging = path.with_name(path.name + ".new")
    staging.unlink(missing_ok=True)
    write_private_file(staging, text + "\n")
    staging.replace(path)
    return path


# --- cardtrail deploy --------------------------------------------------------------------


@click.command("deploy")
@data_dir_option
@click.option(
    "--redeploy",
    is_flag=True,
    help="Deploy a new contract even if one is recorded; the old one's checkpoints are "
    "marked orphaned and the log is anchored afresh.",
)
@click.option(
    "--grant",
    "grantees",
    multiple=True,
    metavar="ADDRESS",
    help="Also grant the anchorer role to ADDRESS (repeatable).",
)
def deploy_command(data_dir: Path | None, redeploy: bool, grantees: tuple[str, ...]) -> None:
    """Deploy LedgerAnchor with the anchoring key and record chain id and address."""
    settings = load_settings(data_dir)
    try:
        with migrated_engine(settings) as engine:
            key = anchor_key(settings)
            w3 = connect_chain(settings, key)
            deployment = _deploy(engine, w3, key, settings, redeploy)
            client = chain.AnchorClient(w3, deployment.contract, key)
            for account in (key.address, *grantees):
                if not client.has_anchorer_role(account):
                    tx_hash = client.grant_anchorer(account)
                    click.echo(f"granted the anchorer role to {account} (tx {tx_hash})")
    except AnchoringPackageError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"chain id  {deployment.chain_id}")
    click.echo(f"contract  {deployment.contract}")
    click.echo(f"anchorer  {key.address}")


def _deploy(
    engine: Engine, w3: Web3, key: AnchorKey, settings: Settings, redeploy: bool
) -> cp.Deployment:
    if redeploy:
        with write_transaction(engine) as conn:
            current = cp.current_deployment(conn)
            if current is not None:
                cp.retire_deployment(conn, current, "replaced by `cardtrail deploy --redeploy`")
        deployment = deploy_contract(engine, w3, key)
        click.echo(f"deployed LedgerAnchor at {deployment.contract} (tx {deployment.tx_hash})")
        return deployment
    with read_transaction(engine) as conn:
        before = cp.current_deployment(conn)
    deployment = ensure_deployment(engine, w3, key, settings.dev_mode)
    if before is not None and before.id == deployment.id:
        click.echo(f"LedgerAnchor already deployed at {deployment.contract}")
    else:
        click.echo(f"deployed LedgerAnchor at {deployment.contract} (tx {deployment.tx_hash})")
    return deployment


# --- cardtrail up ------------------------------------------------------------------------


def web_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """The dev web server of ``cardtrail up``: threaded, its request log without card
    numbers (:class:`~cardtrail.access_log.MaskingRequestHandler`)."""
    return make_server(host, port, app, threaded=True, request_handler=MaskingRequestHandler)


def _shown_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def local_base_url(host: str, port: int) -> str:
    """The base URL of an ``up`` listening on ``host:port`` with none configured."""
    return base_url_setting(f"http://{_shown_host(host)}:{port}")


def with_base_url(settings: Settings, host: str, port: int) -> Settings:
    """``settings`` whose base URL is configured, or (development) this server's address."""
    if settings.public_base_url is not None:
        return settings
    if port == 0:
        raise click.UsageError(
            "--port 0 needs CARDTRAIL_PUBLIC_BASE_URL: links and QR codes must name the port"
        )
    try:
        return dataclasses.replace(settings, public_base_url=local_base_url(host, port))
    except ConfigError as exc:
        raise click.UsageError(f"--host {host}: {exc}") from None


def _seed_demo(app: Flask) -> Callable[[str], str]:
    """Seed the demo merchant (once per data directory); returns the lines to print for it
    once the web app's URL is known."""
    click.echo("--demo: seeding the demo merchant (once per data directory)...")
    built = runtime_of(app)
    summary = demo_data.seed_runtime(built)
    return lambda base_url: demo_data.announce(built, summary, base_url)


@click.command("up")
@data_dir_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address the web app listens on."
)
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Web app port."
)
@click.option(
    "--chain-port",
    default=8545,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the local node on 127.0.0.1 (only without CHAIN_RPC_URL).",
)
@click.option(
    "--demo", is_flag=True, help="Seed demo stores, cards and events on a fresh data directory."
)
def up_command(data_dir: Path | None, host: str, port: int, chain_port: int, demo: bool) -> None:
    """Run CardTrail: local chain (unless CHAIN_RPC_URL), anchoring worker and web app."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = dataclasses.replace(load_settings(data_dir), chain_port=chain_port)
    settings = with_base_url(settings, host, port)
    settings.prepare_data_dir()
    stop = threading.Event()
    node: LocalNode | None = None
    try:
        if settings.dev_mode:
            node = start_local_node(settings)
        app = create_app(settings)
        engine = runtime_of(app).engine
        key = anchor_key(settings)
        w3 = connect_chain(settings, key)
        deployment = ensure_deployment(engine, w3, key, settings.dev_mode)
        write_dev_issuer(settings, deployment, demo=demo or demo_data.present(engine))
        worker = Worker(engine, w3, key, worker_config(settings))
        lock = WorkerLock(engine)
        lock.acquire()
    except AnchoringPackageError as exc:
        if node is not None:
            node.stop()
        raise click.ClickException(str(exc)) from None
    except BaseException:
        if node is not None:
            node.stop()
        raise

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = None
    worker_thread = threading.Thread(target=worker.run, args=(stop,), name="anchoring-worker")
    expiry_thread = _expiry_thread(settings, app, stop)
    try:
        announce_demo: Callable[[str], str] | None = _seed_demo(app) if demo else None
        server = web_server(app, host, port)
        web_thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
        worker_thread.start()
        web_thread.start()
        if expiry_thread is not None:
            expiry_thread.start()
        _banner(settings, server.server_port, host, deployment, node)
        if announce_demo is not None:
            click.echo(announce_demo(settings.base_url + "/") + "\n")
            sys.stdout.flush()
        while not stop.wait(0.5):
            if not worker_thread.is_alive():
                break
    finally:
        if server is not None:
            server.shutdown()
        stop.set()
        if worker_thread.ident is not None:
            worker_thread.join()
        if expiry_thread is not None and expiry_thread.ident is not None:
            expiry_thread.join()
        lock.release()
        engine.dispose()
        if node is not None:
            node.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if worker.error is not None:
        raise click.ClickException(f"anchoring stopped: {worker.error}")
    click.echo("CardTrail stopped.")


def _expiry_thread(
    settings: Settings, app: Flask, stop: threading.Event
) -> threading.Thread | None:
    """The thread that expires cards on time (CARDTRAIL_EXPIRY_INTERVAL; None when 0)."""
    if settings.expiry_interval <= 0:
        return None
    timer = ExpiryTimer(runtime_of(app).ledger, settings.expiry_interval)
    return threading.Thread(target=timer.run, args=(stop,), name="expiry")


def _banner(
    settings: Settings,
    port: int,
    host: str,
    deployment: cp.Deployment,
    node: LocalNode | None,
) -> None:
    chain_note = (
        f"local anvil, state in {settings.data_dir / CHAIN_DIR}" if node else "CHAIN_RPC_URL"
    )
    listening = f"http://{_shown_host(host)}:{port}"
    lines = [
        "",
        "CardTrail is running",
        f"  web app    {settings.base_url}/",
        *([f"  listening  {listening}/"] if listening != settings.base_url else []),
        f"  chain      {settings.rpc_url} ({chain_note})",
        f"  chain id   {deployment.chain_id}",
        f"  contract   {deployment.contract}",
        f"  data dir   {settings.data_dir}",
        (
            f"  anchoring  every {settings.anchor_interval:g} s, "
            f"{settings.anchor_confirmations} confirmation(s)"
        ),
        (
            f"  expiry     every {settings.expiry_interval:g} s"
            if settings.expiry_interval > 0
            else "  expiry     off (CARDTRAIL_EXPIRY_INTERVAL=0): run `cardtrail expire`"
        ),
        "Press Ctrl-C to stop.",
        "",
    ]
    click.echo("\n".join(lines))
    sys.stdout.flush()  # shown at once even when stdout is a file or a pipe
