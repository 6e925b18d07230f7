"""What every benchmark section shares: repeated timing, percentiles, the machine, results.

A figure is the median of ``runs`` timed runs after one untimed warm-up, kept with its
minimum and maximum (:class:`Stat`). Both wall-clock and CPU seconds of this process are
recorded: on a shared machine the wall clock includes waiting for a core, while the CPU
time of single-threaded work is what the code itself costs.

    >>> Stat.of([3.0, 1.0, 2.0]).median
    2.0
    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.0
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = (
    "sqlalchemy",
    "psycopg",
    "flask",
    "gunicorn",
    "aiohttp",
    "web3",
    "rfc8785",
    "pymerkle",
    "merkletools",
)


@dataclass(frozen=True)
class Stat:
    """Median, minimum and maximum of repeated measurements (any unit)."""

    median: float
    min: float
    max: float
    runs: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stat:
        """Summarise ``samples`` (at least one)."""
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def scaled(self, factor: float) -> Stat:
        """The same figures multiplied by ``factor`` (a rate from a time: pass 1/time)."""
        low, high = sorted((self.min * factor, self.max * factor))
        return Stat(self.median * factor, low, high, self.runs)

    def rate(self, count: float) -> Stat:
        """``count`` per unit of this time: items per second from seconds."""
        return Stat(count / self.median, count / self.max, count / self.min, self.runs)

    def to_json(self) -> dict[str, float]:
        """The figures as a JSON object."""
        return asdict(self)


@dataclass(frozen=True)
class Timing:
    """Wall and CPU seconds of repeated runs of one piece of work."""

    wall: Stat
    cpu: Stat

    def to_json(self) -> dict[str, Any]:
        """Both figures as a JSON object."""
        return {"wall_s": self.wall.to_json(), "cpu_s": self.cpu.to_json()}


def measure(
    work: Callable[[], object],
    runs: int,
    warmup: Callable[[], object] | None = None,
    setup: Callable[[], object] | None = None,
) -> Timing:
    """Time ``work`` ``runs`` times after one untimed warm-up (``warmup`` or ``work``).

    ``setup``, if given, runs untimed before each timed run (fresh databases, caches).
    """
    if setup is not None:
        setup()
    (warmup or work)()
    wall, cpu = [], []
    for _ in range(runs):
        if setup is not None:
            setup()
        began, began_cpu = time.perf_counter(), time.process_time()
        work()
        cpu.append(time.process_time() - began_cpu)
        wall.append(time.perf_counter() - began)
    return Timing(Stat.of(wall), Stat.of(cpu))


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100) of ``samples`` by the nearest-rank method."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def latency(samples: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of some latencies, in their own unit, with the sample count."""
    return {
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "max": max(samples),
        "count": len(samples),
    }


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        run = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return None
    return run.stdout.strip() or None


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, memory, load, Python and library versions."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    sqlite_version = __import__("sqlite3").sqlite_version
    return {
        "cores": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "load_average_at_start": list(load) if load else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "sqlite": sqlite_version,
        "libraries": {name: _version(name) for name in LIBRARIES},
        "git_commit": _git_commit(),
    }


def log(message: str) -> None:
    """Progress for the person running the benchmark (stderr: stdout stays the report)."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class Target:
    """One figure held against its goal: ``met`` is None when it could not be measured.

    ``key`` names the goal of an issue this row answers (``bench.report.GOALS``, e.g.
    ``"issue18.audit"``): the report summarises those goals at the end of the run, each
    beside the row of the same key measured in that run.
    """

    figure: str
    value: str
    goal: str
    met: bool | None
    peer: str = ""
    key: str = ""


@dataclass
class Section:
    """A benchmark section's outcome: detail tables, the targets it checks and raw data."""

    key: str
    title: str
    tables: list[tuple[list[str], list[list[str]]]]
    targets: list[Target]
    notes: list[str]
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The section in results.json."""
        return {
            "title": self.title,
            "tables": [[header, body] for header, body in self.tables],
            "targets": [asdict(t) for t in self.targets],
            "notes": self.notes,
            "data": self.data,
        }


@dataclass(frozen=True)
class Config:
    """How big and how often: the full run, or ``--quick`` to check that everything works."""

    quick: bool
    runs: int
    postgres_url: str | None
    workdir: Path
    resources: ExitStack = field(default_factory=ExitStack)
    """Servers and engines that live as long as the run (shared by several sections)."""

    def size(self, full: int, quick: int) -> int:
        """``full`` in a full run, ``quick`` in a quick one."""
        return quick if self.quick else full


def seconds(value: float) -> str:
    """A duration for people: ms below a second."""
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def spread(stat: Stat, fmt: Callable[[float], str]) -> str:
    """``median (min–max)`` in ``fmt``."""
    return f"{fmt(stat.median)} ({fmt(stat.min)}–{fmt(stat.max)})"


def per_second(value: float) -> str:
    """A rate for people, thousands separated."""
    return f"{value:,.0f}/s"


def ratio(value: float) -> str:
    """A ratio with two significant decimals."""
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A throw-away schema on the PostgreSQL server at ``url``; yields a URL that uses it.

    Raises ConnectionError when the server does not answer (a section reports it skipped).
    """
    import uuid

    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        except sa.exc.OperationalError as exc:
            raise ConnectionError(f"PostgreSQL does not answer: {exc}".splitlines()[0]) from exc
        sep = "&" if "?" in url else "?"
        try:
            yield f"{url}{sep}options=-csearch_path%3D{schema}"
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    finally:
        admin.dispose()
