"""``python -m bench``: run the benchmark sections and write the report.

    .venv/bin/python -m bench                 # full run (make bench), under 30 minutes
    .venv/bin/python -m bench --quick         # small sizes: does everything still work?
    .venv/bin/python -m bench --only merkle proofs   # re-run some; keep the others' figures

Writes bench/results.json and docs/benchmarks.md (or where --results/--markdown say), and
prints the report, ending with each issue's targets beside this run's figures. A run of
some sections keeps the other sections of the full run before it, marked with that run's
time and commit (:func:`bench.report.carried`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench import common, report
from bench.common import ROOT, Config, Section, Target

SECTIONS = (
    "merkle",
    "proofs",
    "ingest",
    "groupcommit",
    "lookup",
    "anchoring",
    "audit",
    "cardmap",
)


def _load(name: str):  # type: ignore[no-untyped-def]
    module = {
        "merkle": "bench.merkle_roots",
        "proofs": "bench.proofs",
        "ingest": "bench.ingest",
        "groupcommit": "bench.group_commit",
        "lookup": "bench.lookup",
        "anchoring": "bench.anchor_latency",
        "audit": "bench.audit_rate",
        "cardmap": "bench.cardmap",
    }[name]
    return __import__(module, fromlist=["run"])


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections in order; a section that fails is reported, not fatal."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check it works")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--runs", type=int, default=None, help="timed runs per figure (5; quick 3)")
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL server for the ingest section ('' to skip)",
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)

    started = time.monotonic()
    info = common.machine()
    sections: list[Section] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="cardtrail-bench-") as tmp, ExitStack() as resources:
        cfg = Config(
            quick=args.quick,
            runs=args.runs or (3 if args.quick else 5),
            postgres_url=args.postgres or None,
            workdir=Path(tmp),
            resources=resources,
        )
        for name in args.only:
            common.log(f"== {name}")
            began = time.monotonic()
            try:
                section = _load(name).run(cfg)
            except Exception as exc:  # noqa: BLE001 - one broken section must not hide the rest
                failed = True
                traceback.print_exc()
                section = Section(
                    name,
                    name,
                    [],
                    [Target(f"{name}: the section failed", "—", "runs", None)],
                    [f"The section failed: {type(exc).__name__}: {exc}"],
                    {},
                )
            section.data["elapsed_s"] = round(time.monotonic() - began, 1)
            sections.append(section)
            common.log(f"   {name} took {time.monotonic() - began:.0f} s")
    meta = {
        "quick": args.quick,
        "runs": cfg.runs,
        "sections": args.only,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    previous = report.read(args.results) if not args.quick else None
    sections = report.carried(previous, sections)
    report.write(sections, info, meta, args.results, args.markdown)
    print(report.render(sections, info, meta))
    # Last on the screen: each issue's goals beside the figures of this run.
    print("\n" + report.summary(sections))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
