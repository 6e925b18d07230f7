"""The chunk pass of ``cardtrail audit`` in several processes: a pool of workers, each
on its own connection, started from a fork server."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext

from sqlalchemy.engine import Connection, Engine

from anchoring.db import create_engine, read_transaction
from ledger_service.audit_chunk import SPAN, ChunkReport, audit_chunk, chunks

_worker_engine: Engine | None = None


def _start_worker(url: str) -> None:
    global _worker_engine
    _worker_engine = create_engine(url)


def _audit_chunk_in_worker(task: tuple[int, int, int]) -> ChunkReport:
    if _worker_engine is None:
        raise RuntimeError("the audit worker was not started with its database")
    with read_transaction(_worker_engine) as conn:
        return audit_chunk(conn, *task)


def _shareable(engine: Engine) -> bool:
    """True when other processes can open the engine's database (not SQLite in memory)."""
    return engine.dialect.name != "sqlite" or engine.url.database not in (None, "", ":memory:")


@contextmanager
def chunk_reports(
    engine: Engine, conn: Connection, size: int, jobs: int, chunk: int
) -> Iterator[Iterator[ChunkReport]]:
    """Each chunk's report, in leaf order: from ``jobs`` processes, or from ``conn``.

    Every process reads in its own transaction, only leaves and rows below ``size`` (the
    size in the caller's snapshot): the log only grows, so they all see the same ones.
    """
    span = min(chunk, SPAN)
    tasks = [(start, end, span) for start, end in chunks(size, chunk)]
    if jobs <= 1 or len(tasks) <= 1 or not _shareable(engine):
        yield (audit_chunk(conn, *task) for task in tasks)
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
    with context.Pool(min(jobs, len(tasks)), _start_worker, (url,)) as pool:
        yield pool.imap(_audit_chunk_in_worker, tasks)
