"""Print the gas that LedgerAnchor.anchor() uses, for logs of 10 to 10,000,000 leaves.

    .venv/bin/python -m scripts.gas_report                  # sizes 10, 100, …, 10^7
    .venv/bin/python -m scripts.gas_report --sizes 10 1000  # chosen sizes

Each row anchors a checkpoint of about half the size first, then measures the anchor of
the full size with its consistency proof (about log2(n) hashes, checked on chain). The
chain is the in-process eth-tester (py-evm), so the figures are the EVM's exact gas
accounting, transaction base cost and calldata included. A measurement, not a test: the
measuring is :mod:`bench.anchor_gas`, which the benchmark's anchoring section shares.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from anchoring import contract
from bench.anchor_gas import SIZES, Row, measure


def render(rows: Sequence[Row]) -> str:
    """The report: a header naming compiler and chain, then one line per tree size."""
    runs = contract.ARTIFACT["compiler"]["settings"]["optimizer"]["runs"]
    lines = [
        f"LedgerAnchor.anchor() on eth-tester (py-evm), solc {contract.COMPILER_VERSION}, "
        + f"optimizer runs {runs}",
        f"{'tree size':>12} {'from size':>12} {'proof hashes':>13} {'gas used':>10}",
    ]
    lines += [
        f"{r.tree_size:>12,} {r.from_size:>12,} {r.proof_hashes:>13} {r.gas_used:>10,}"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.gas_report", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=SIZES, help="tree sizes (each >= 2)"
    )
    args = parser.parse_args(argv)
    if min(args.sizes) < 2:
        parser.error("every tree size must be at least 2: the smallest grows from size 1")
    print(render(measure(args.sizes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
