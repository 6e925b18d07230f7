"""gunicorn on 127.0.0.1 and a bounded asyncio load client, for the HTTP benchmarks.

:func:`start` runs gunicorn on a free port of 127.0.0.1 against a data directory and
database, waits until it answers and hands back a :class:`Server` to stop (SIGTERM, then
SIGKILL after a grace period) or to kill outright; :func:`serve` stops it however the block
ends. :data:`BENCH` is the benchmark sections' app (``bench.server:app``, rate limits off);
``scripts/load.py`` runs the production app and command line through the same launcher.
:func:`load` sends requests from ``concurrency`` clients until the requests run out or
``seconds`` pass, and returns each request's latency and status.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anchoring.node import HOST, free_port
from bench.common import ROOT

Request = tuple[str, str, dict[str, str], bytes | None]
"""(method, path, headers, body)."""

READY_PATH = "/api/v1/openapi.json"
READY_SECONDS = 60
STOP_GRACE_SECONDS = 30


@dataclass(frozen=True)
class App:
    """What gunicorn serves and how: the WSGI target, extra options and environment."""

    target: str
    options: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


BENCH = App(
    "bench.server:app",
    ("--backlog", "2048", "--keep-alive", "30", "--timeout", "120"),
)
"""The benchmark app: production code with the rate limits off (see bench/server.py)."""


def command(app: App, port: int, workers: int, threads: int) -> list[str]:
    """The gunicorn command line: gthread workers on 127.0.0.1:``port``."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{HOST}:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        *app.options,
        app.target,
    ]


def environment(app: App, data_dir: Path, database_url: str | None) -> dict[str, str]:
    """This process's environment without CardTrail settings, plus the server's own.

    Settings inherited from the shell (another data directory, database or key) must not
    leak into the server; ``database_url`` None leaves the data directory's SQLite file.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARDTRAIL_", "DATABASE_URL"))}
    env.update(CARDTRAIL_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT), **app.env)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@dataclass
class Server:
    """A running gunicorn in its own process group: its URL and its master process."""

    url: str
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        """SIGKILL the master and its workers at once (a crash, not a shutdown)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Shut down gracefully (SIGTERM), killing what is left after the grace period."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()


def start(
    app: App,
    data_dir: Path,
    database_url: str | None = None,
    workers: int = 2,
    threads: int = 4,
    log_path: Path | None = None,
) -> Server:
    """Start gunicorn serving ``app`` on a free port and wait until it answers.

    Its output goes to ``log_path`` (appended), or nowhere.
    """
    port = free_port()
    with open(log_path or os.devnull, "ab") as out:  # the child keeps its own descriptor
        process = subprocess.Popen(
            command(app, port, workers, threads),
            cwd=ROOT,
            env=environment(app, data_dir, database_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one
        )
    server = Server(f"http://{HOST}:{port}", process)
    try:
        _wait_ready(server, log_path)
    except BaseException:
        server.kill()
        raise
    return server


@contextmanager
def serve(
    app: App,
    data_dir: Path,
    database_url: str | None = None,
    workers: int = 2,
    threads: int = 4,
    log_path: Path | None = None,
) -> Iterator[Server]:
    """:func:`start`, stopped at the end of the block."""
    server = start(app, data_dir, database_url, workers, threads, log_path)
    try:
        yield server
    finally:
        server.stop()


def _wait_ready(server: Server, log_path: Path | None) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with status {server.process.returncode} (log: {log_path})"
            )
        try:
            with urllib.request.urlopen(server.url + READY_PATH, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer within {READY_SECONDS} s (log: {log_path})")


@dataclass
class LoadResult:
    """What a load run saw: per-request latency (s) and status, and how long it took."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    bodies: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> int:
        """Requests answered 2xx."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)


def load(
    base_url: str,
    requests: Iterator[Request],
    concurrency: int,
    seconds: float,
    keep: Callable[[int, bytes], Any] | None = None,
) -> LoadResult:
    """Send ``requests`` from ``concurrency`` clients for at most ``seconds``.

    ``keep(status, body)``, if given, picks what to remember of each answer (in
    ``bodies``, in completion order).
    """
    return asyncio.run(_load(base_url, requests, concurrency, seconds, keep))


async def _load(
    base_url: str,
    requests: Iterator[Request],
    concurrency: int,
    seconds: float,
    keep: Callable[[int, bytes], Any] | None,
) -> LoadResult:
    import aiohttp

    result = LoadResult()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    began = time.perf_counter()
    deadline = began + seconds
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:

        async def client() -> None:
            for method, path, headers, body in requests:
                if time.perf_counter() >= deadline:
                    return
                sent = time.perf_counter()
                async with session.request(method, path, headers=headers, data=body) as answer:
                    payload = await answer.read()
                result.latencies.append(time.perf_counter() - sent)
                result.statuses[answer.status] = result.statuses.get(answer.status, 0) + 1
                if keep is not None:
                    result.bodies.append(keep(answer.status, payload))

        await asyncio.gather(*(client() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - began
    return result


@dataclass(frozen=True)
class Deployment:
    """A migrated database with two stores and API tokens, ready for gunicorn."""

    data_dir: Path
    database_url: str
    secret_key: bytes
    hq_token: str = field(repr=False)
    store_token: str = field(repr=False)


def prepare(data_dir: Path, database_url: str) -> Deployment:
    """Migrate the database, create stores S1 and S2 and an hq and a store-S1 token."""
    from anchoring.db import create_engine
    from ledger_service import db
    from ledger_service.actor import Actor
    from ledger_service.auth import create_token
    from ledger_service.config import Settings
    from ledger_service.service import Ledger

    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env(data_dir, environ={"DATABASE_URL": database_url})
    secret = settings.secret_key()
    engine = create_engine(database_url)
    try:
        db.upgrade(engine)
        ledger = Ledger(engine, secret)
        for store_id, region in (("S1", "north"), ("S2", "south")):
            ledger.create_store(Actor("hq", "bench"), store_id, f"Store {store_id}", region)
        hq = create_token(engine, secret, "hq").token
        store = create_token(engine, secret, "store", "S1").token
    finally:
        engine.dispose()
    return Deployment(data_dir, database_url, secret, hq, store)
