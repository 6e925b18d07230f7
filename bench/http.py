"""gunicorn on 127.0.0.1 and a bounded asyncio load client, for the HTTP sections.

:func:`serve` starts gunicorn with ``bench.server:app`` on a free port against a data
directory and database the caller prepared (migrated, with a secret key), waits until it
answers and stops it — SIGTERM, then SIGKILL after a grace period — however the block
ends. :func:`load` sends requests from ``concurrency`` clients until the requests run out
or ``seconds`` pass, and returns each request's latency and status.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, free_port

Request = tuple[str, str, dict[str, str], bytes | None]
"""(method, path, headers, body)."""


@contextmanager
def serve(
    data_dir: Path,
    database_url: str,
    workers: int,
    threads: int = 4,
    log_path: Path | None = None,
) -> Iterator[str]:
    """Run gunicorn for the duration of the block; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "CARDTRAIL_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
    }
    out = open(log_path or data_dir / "gunicorn.log", "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--backlog",
            "2048",
            "--keep-alive",
            "30",
            "--timeout",
            "120",
            "bench.server:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, deadline=time.monotonic() + 60)
        yield url
    finally:
        _stop(process)
        out.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/api/v1/openapi.json", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 60 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


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
