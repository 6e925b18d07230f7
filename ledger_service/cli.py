"""The ``cardtrail`` command line. Each command lives with the code it drives and is added
to the group here; every command takes ``--data-dir`` (or CARDTRAIL_DATA_DIR)."""

from __future__ import annotations

from pathlib import Path

import click

from ledger_service.config import ConfigError, Settings

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CARDTRAIL_DATA_DIR",
    default=None,
    help="Where the SQLite database, local chain state and dev keystore live "
    "[env CARDTRAIL_DATA_DIR; default ./.cardtrail].",
)


def load_settings(data_dir: Path | None) -> Settings:
    """Settings for a command, with configuration errors turned into a clean CLI error."""
    try:
        return Settings.from_env(data_dir)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cardtrail")
def main() -> None:
    """CardTrail: a provenance ledger for gift cards and pickup vouchers."""


# Registered after ``main`` exists: the command modules import the option helpers above.
from ledger_service.auth_cli import token_command  # noqa: E402

main.add_command(token_command)

from anchoring.verify_cli import verify_command  # noqa: E402

main.add_command(verify_command)

from ledger_service.run import deploy_command, up_command  # noqa: E402

main.add_command(up_command)
main.add_command(deploy_command)

from ledger_service.audit_cli import audit_command  # noqa: E402

main.add_command(audit_command)

from ledger_service.imports import expire_command, import_cards_command  # noqa: E402

main.add_command(import_cards_command)
main.add_command(expire_command)

from ledger_service.worker_cli import worker_command  # noqa: E402

main.add_command(worker_command)

from ledger_service.store_client import store_client_command  # noqa: E402

main.add_command(store_client_command)
