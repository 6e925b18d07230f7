"""``cardtrail token create|revoke``: API tokens from the command line.

The token is printed once, alone on the last line of the output, and stored only as a
keyed hash (see :mod:`ledger_service.auth`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import click
from sqlalchemy.engine import Engine

from ledger_service.auth import TOKEN_ROLES, create_token, revoke_token
from ledger_service.cli_options import data_dir_option, load_settings, migrated_engine
from ledger_service.config import Settings
from ledger_service.idempotency import IdempotencyStore


@contextmanager
def _database(data_dir: Path | None) -> Iterator[tuple[Settings, Engine]]:
    settings = load_settings(data_dir)
    settings.secret_key()  # created on first use: tokens are keyed with it
    with migrated_engine(settings) as engine:
        yield settings, engine


@click.group("token")
def token_command() -> None:
    """Create and revoke API tokens."""


@token_command.command("create")
@click.option(
    "--role", type=click.Choice(TOKEN_ROLES), required=True, help="What the token may do."
)
@click.option("--store", "store_id", default=None, help="The store a store token acts for.")
@click.option(
    "--name",
    default=None,
    help="The staff member's display name, shown in the console (never in the log).",
)
@data_dir_option
def token_create(role: str, store_id: str | None, name: str | None, data_dir: Path | None) -> None:
    """Create a token. It is shown only now: CardTrail keeps nothing but a keyed hash."""
    with _database(data_dir) as (settings, engine):
        try:
            issued = create_token(engine, settings.secret_key(), role, store_id, name)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    scope = f" for store {issued.store_id}" if issued.store_id else ""
    scope += f" ({issued.name})" if issued.name else ""
    click.echo(
        f"Created {issued.role} token {issued.id}{scope}; copy it now, it is not shown again:"
    )
    click.echo(issued.token)


@token_command.command("revoke")
@click.argument("token_id")
@data_dir_option
def token_revoke(token_id: str, data_dir: Path | None) -> None:
    """Revoke the token TOKEN_ID (the id printed when it was created)."""
    with _database(data_dir) as (_, engine):
        revoked = revoke_token(engine, token_id)
    if not revoked:
        raise click.ClickException(f"no live token with id {token_id}")
    click.echo(f"Revoked token {token_id.removeprefix('tok_')}.")


@token_command.command("purge-keys")
@click.option(
    "--older-than-days",
    type=click.IntRange(min=1),
    default=7,
    show_default=True,
    help="Keep idempotency records younger than this.",
)
@data_dir_option
def token_purge_keys(older_than_days: int, data_dir: Path | None) -> None:
    """Forget old idempotency records (their stored answers included)."""
    with _database(data_dir) as (settings, engine):
        store = IdempotencyStore(engine, settings.secret_key())
        removed = store.purge(timedelta(days=older_than_days))
    click.echo(f"Removed {removed} idempotency records older than {older_than_days} days.")
