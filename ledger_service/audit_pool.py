"""The chunk pass of ``cardtrail audit`` in several processes: a pool of workers, each
on its own connection, started from a fork server.

A worker that dies (killed, out of memory) fails the audit with ``BrokenProcessPool``
(:mod:`concurrent.futures`): a ``multiprocessing.Pool`` would start another worker and
wait for the lost chunk for ever."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.context import BaseContext

from sqlalchemy.engine import Connection, Engine

from anchoring.db import create_engine, read_transaction
from ledger_service.audit_chunk import SPAN, ChunkReport, audit_chunk, chunks
from ledger_service.audit_map import Bucket, Builder, bucket_hashes

_SHARED_BUCKETS = 4096
"""Buckets to rebuild from which a map leaf shares them out among the workers."""

_worker_engine: Engine | None = None


def _start_worker(url: str) -> None:
    global _worker_engine
    _worker_engine = create_engine(url)


def _audit_chunk_in_worker(task: tuple[int, int, int]) -> ChunkReport:
    if _worker_engine is None:
        raise RuntimeError("the audit worker was not started with its database")
    with read_transaction(_worker_engine) as conn:
        return audit_chunk(conn, *task)


def _bucket_hashes_in_worker(task: tuple[int, list[Bucket]]) -> list[bytes]:
    return bucket_hashes(*task)


def _pool_builder(pool: Executor, jobs: int) -> Builder:
    """Rebuilds many buckets in the pool's workers (idle by then, or about to be: a
    map leaf after the last chunk, as the anchoring worker appends them, is common)."""

    def build(depth: int, buckets: Sequence[Bucket]) -> list[bytes]:
        if len(buckets) < _SHARED_BUCKETS:
            return bucket_hashes(depth, buckets)
        step = -(-len(buckets) // (4 * jobs))
        tasks = [(depth, list(buckets[k : k + step])) for k in range(0, len(buckets), step)]
        return [digest for part in pool.map(_bucket_hashes_in_worker, tasks) for digest in part]

    return build


@contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Start processes that do not re-run the ``__main__`` script.

    A worker started by the fork server re-runs the script its parent was started as
    (multiprocessing's "safe importing of main"): for the ``cardtrail`` console script
    that is the whole command line interface — the web portal and the chain client —
    about 4 CPU-seconds per worker, which is more than the audit of 100,000 events. The
    workers need nothing from it (their tasks name functions of this module), and a
    parent's ``__main__`` without ``__file__`` is left alone.
    """
    main = sys.modules["__main__"]
    path = main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        if path is not None:
            main.__file__ = path


def _shareable(engine: Engine) -> bool:
    """True when other processes can open the engine's database (not SQLite in memory)."""
    return engine.dialect.name != "sqlite" or engine.url.database not in (None, "", ":memory:")


@contextmanager
def chunk_reports(
    engine: Engine, conn: Connection, size: int, jobs: int, chunk: int
) -> Iterator[tuple[Iterator[ChunkReport], Builder]]:
    """Each chunk's report, in leaf order: from ``jobs`` processes, or from ``conn``; and
    the card map's bucket builder, in those processes too.

    Every process reads in its own transaction, only leaves and rows below ``size`` (the
    size in the caller's snapshot): the log only grows, so they all see the same ones.
    """
    span = min(chunk, SPAN)
    tasks = [(start, end, span) for start, end in chunks(size, chunk)]
    if jobs <= 1 or len(tasks) <= 1 or not _shareable(engine):
        yield (audit_chunk(conn, *task) for task in tasks), bucket_hashes
        return
    # Not fork: SQLite keeps per-process lock state for open files that a forked child
    # would inherit from this process's open transaction. The fork server starts clean,
    # with this module loaded once, and forks the workers from there.
    context: BaseContext
    if "forkserver" in multiprocessing.get_all_start_methods():
        server = multiprocessing.get_context("forkserver")
        server.set_forkserver_preload([__name__])
        context = server
    else:
        context = multiprocessing.get_context("spawn")
    url = engine.url.render_as_string(hide_password=False)
    pool = ProcessPoolExecutor(min(jobs, len(tasks)), context, _start_worker, (url,))
    try:
        # The workers start as the tasks are handed out, all of them here.
        with _main_not_rerun():
            reports = pool.map(_audit_chunk_in_worker, tasks)
        yield reports, _pool_builder(pool, jobs)
    finally:
        # An audit that stops at its first finding does not wait for the other chunks.
        pool.shutdown(cancel_futures=True)
