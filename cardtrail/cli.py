"""The ``cardtrail`` command line. Each command lives with the code it drives and is added
to the group here; every command takes ``--data-dir`` (or CARDTRAIL_DATA_DIR), from
:mod:`ledger_service.cli_options`."""

from __future__ import annotations

import click

from anchoring.monitor_cli import monitor_command
from anchoring.verify_cli import verify_command
from cardtrail.run import deploy_command, up_command
from cardtrail.worker_cli import worker_command
from ledger_service.audit_cli import audit_command
from ledger_service.auth_cli import token_command
from ledger_service.imports import expire_command, import_cards_command
from store_client.cli import store_client_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cardtrail")
def main() -> None:
    """CardTrail: a provenance ledger for gift cards and pickup vouchers."""


for _command in (
    up_command,
    deploy_command,
    worker_command,
    token_command,
    import_cards_command,
    expire_command,
    audit_command,
    verify_command,
    monitor_command,
    store_client_command,
):
    main.add_command(_command)

if __name__ == "__main__":
    main()
