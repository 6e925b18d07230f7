"""``cardtrail audit``: the command around :func:`ledger_service.audit.run_audit`.

Exit status: 0 when everything holds, 1 on a divergence, 2 when the chain could not be
asked (the audit is then incomplete).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from anchoring.chain import AnchorReader
from ledger_service.audit import run_audit
from ledger_service.cli_options import data_dir_option, load_settings, migrated_engine


@click.command("audit")
@click.option(
    "--rpc",
    "rpc_url",
    default=None,
    metavar="URL",
    help="Chain endpoint to check checkpoints against [default: the configured one].",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Processes that check the leaves and events, chunk by chunk [default: the CPUs "
    "this process may use].",
)
@data_dir_option
def audit_command(rpc_url: str | None, jobs: int | None, data_dir: Path | None) -> None:
    """Re-verify the log, the events and cards tables, and the checkpoints on chain.

    Reports the first divergence of each pass (the same with any number of jobs); exits
    0 when everything holds, 1 on a divergence, 2 when the chain could not be asked.
    """
    settings = load_settings(data_dir)
    url = rpc_url or settings.rpc_url
    with migrated_engine(settings) as engine:
        result = run_audit(
            engine, lambda contract: AnchorReader(url, contract), jobs=jobs or usable_cpus()
        )
    for name, found in result.findings:
        click.echo(
            f"{'OK  ' if found is None else 'FAIL'}  {name}" + (f": {found}" if found else "")
        )
    if result.chain_error:
        click.echo(f"FAIL  checkpoints: could not ask the chain at {url}: {result.chain_error}")
        raise SystemExit(2)
    click.echo("audit passed" if result.ok else "audit FAILED: divergence found")
    raise SystemExit(0 if result.ok else 1)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity), at least one."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1
