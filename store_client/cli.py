"""``cardtrail store-client``: keygen, redeem, sync and status at a store's counter.

    cardtrail store-client keygen --store S1          # prints the address for headquarters
    cardtrail store-client sync                       # once online: learns the deployment
    cardtrail store-client redeem 2345-6789-ABCD-EFGH-8 K7Q2-9XPM   # a pickup card, whole
    cardtrail store-client redeem 3456-789A-BCDE-FGHJ-9 M3R8-2KQW --amount 2500  # 25.00
    cardtrail store-client sync
    cardtrail store-client pickups                    # online: ready pickups and code secrets
    cardtrail store-client complete pk_0123456789abcdef 493021 --serial MT-2026-0001
    cardtrail store-client status

Settings: ``--home`` (CARDTRAIL_STORE_HOME, default ./.cardtrail-store), ``--server``
(CARDTRAIL_SERVER_URL), ``--token`` (CARDTRAIL_STORE_TOKEN), the keystore password from
CARDTRAIL_STORE_KEY_PASSWORD, ``--password-file`` or a prompt.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from store_client.device import create_keystore, load_config, load_key
from store_client.errors import Offline, StoreClientError
from store_client.queue import QUEUE, Queue
from store_client.sync import StoreClient


def _password(password_file: Path | None, *, confirm: bool = False) -> str:
    if password_file is not None:
        return password_file.read_text().rstrip("\r\n")
    env = os.environ.get("CARDTRAIL_STORE_KEY_PASSWORD")
    if env:
        return env
    return str(click.prompt("Device key password", hide_input=True, confirmation_prompt=confirm))


def _describe(result: dict[str, Any]) -> str:
    tag = " (already decided)" if result.get("replayed") else ""
    if result["status"] == "accepted":
        return (
            f"accepted {result['client_id']}: card {result['card_number']} {result['state']}, "
            f"leaf {result['leaf_index']}{tag}"
        )
    return f"REFUSED {result['client_id']}: {result['code']} — {result['detail']}{tag}"


@click.group("store-client")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CARDTRAIL_STORE_HOME",
    default=".cardtrail-store",
    show_default=True,
    help="Where the device keystore and the queue live [env CARDTRAIL_STORE_HOME].",
)
@click.option("--server", envvar="CARDTRAIL_SERVER_URL", help="The service's base URL.")
@click.option("--token", envvar="CARDTRAIL_STORE_TOKEN", help="The store's API token.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="File holding the keystore password [or env CARDTRAIL_STORE_KEY_PASSWORD].",
)
@click.pass_context
def store_client_command(
    ctx: click.Context,
    home: Path,
    server: str | None,
    token: str | None,
    password_file: Path | None,
) -> None:
    """A store's counter client: signed redemptions that queue while the service is away."""
    ctx.obj = {"home": home, "server": server, "token": token, "password_file": password_file}


def _client(ctx: click.Context) -> StoreClient:
    obj = ctx.obj
    if not obj["server"] or not obj["token"]:
        raise click.UsageError("--server and --token (or their environment variables) are needed")
    try:
        config = load_config(obj["home"])
        key = load_key(obj["home"], _password(obj["password_file"]))
    except StoreClientError as exc:
        raise click.ClickException(str(exc)) from None
    queue = Queue(obj["home"] / QUEUE)
    ctx.call_on_close(queue.close)
    return StoreClient(queue, key, config["store_id"], obj["server"], obj["token"])


@store_client_command.command("keygen")
@click.option("--store", "store_id", required=True, help="The store this device acts for.")
@click.option("--kdf-work", type=int, default=None, hidden=True)
@click.pass_context
def keygen_command(ctx: click.Context, store_id: str, kdf_work: int | None) -> None:
    """Create this device's key; give the printed address to headquarters to register."""
    home = ctx.obj["home"]
    try:
        address = create_keystore(
            home, store_id, _password(ctx.obj["password_file"], confirm=True), kdf_work
        )
    except StoreClientError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(address)
    click.echo(
        f'Register it: POST /api/v1/stores/{store_id}/keys {{"address": "{address}"}}',
        err=True,
    )


@store_client_command.command("redeem")
@click.argument("card_number")
@click.argument("redemption_code")
@click.option(
    "--amount",
    type=click.IntRange(min=1),
    default=None,
    help="What a stored-value card pays, in minor units of its currency (2500 = 25.00), or "
    "the uses a count card spends. The device signs it. Leave out for a pickup card.",
)
@click.pass_context
def redeem_command(
    ctx: click.Context, card_number: str, redemption_code: str, amount: int | None
) -> None:
    """Redeem a card: signed, queued, and sent at once if the service is reachable."""
    client = _client(ctx)
    try:
        client_id, report = client.redeem(card_number, redemption_code, amount)
    except StoreClientError as exc:
        raise click.ClickException(str(exc)) from None
    mine = next((r for r in report.results if r["client_id"] == client_id), None)
    for result in report.results:
        if result is not mine:
            click.echo(_describe(result))
    if mine is None:
        click.echo(f"queued {client_id}: service unreachable, {report.pending} waiting to sync")
        return
    click.echo(_describe(mine))
    if mine["status"] != "accepted":
        ctx.exit(1)


@store_client_command.command("pickups")
@click.pass_context
def pickups_command(ctx: click.Context) -> None:
    """Fetch this store's ready pickups (and their code secrets) for offline handovers."""
    client = _client(ctx)
    try:
        count = client.fetch_ready()
    except (StoreClientError, Offline) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{count} pickups ready: " + " ".join(client.queue.ready_ids()))


@store_client_command.command("complete")
@click.argument("pickup_id")
@click.argument("rotating_code")
@click.option("--serial", "serials", multiple=True, help="A bottle serial scanned (repeatable).")
@click.pass_context
def complete_command(
    ctx: click.Context, pickup_id: str, rotating_code: str, serials: tuple[str, ...]
) -> None:
    """Hand a ready pickup over against the customer's rotating code (checked here, also
    offline), then send the queue if the service is reachable."""
    client = _client(ctx)
    try:
        client_id, report = client.complete_pickup(pickup_id, rotating_code, list(serials))
    except StoreClientError as exc:
        raise click.ClickException(str(exc)) from None
    mine = next((r for r in report.results if r["client_id"] == client_id), None)
    if mine is None:
        click.echo(f"queued {client_id}: service unreachable, {report.pending} waiting to sync")
        return
    click.echo(_describe(mine))
    if mine["status"] != "accepted":
        ctx.exit(1)


@store_client_command.command("sync")
@click.pass_context
def sync_command(ctx: click.Context) -> None:
    """Send the queued commands, oldest first."""
    try:
        report = _client(ctx).sync()
    except StoreClientError as exc:
        raise click.ClickException(str(exc)) from None
    for result in report.results:
        click.echo(_describe(result))
    if report.offline:
        click.echo(f"service unreachable: {report.pending} still waiting")
        ctx.exit(2)
    click.echo(f"synced {len(report.results)}; nothing waiting")


@store_client_command.command("status")
@click.pass_context
def status_command(ctx: click.Context) -> None:
    """The device, and the queue: waiting, accepted and refused commands."""
    home = ctx.obj["home"]
    try:
        config = load_config(home)
    except StoreClientError as exc:
        raise click.ClickException(str(exc)) from None
    queue = Queue(home / QUEUE)
    try:
        counts = queue.counts()
        deployment = queue.deployment()
        click.echo(f"store {config['store_id']}, device {config['address']}")
        click.echo(
            f"signs for {deployment.describe()}"
            if deployment
            else "deployment not learned yet: sync once while the service is reachable"
        )
        click.echo(
            f"waiting {counts['pending']}, accepted {counts['accepted']}, "
            f"refused {counts['refused']}"
        )
        for item in queue.all():
            if item.state == "pending":
                click.echo(f"waiting {item.client_id}: card {item.item.get('card_number')}")
            elif item.state == "refused" and item.result:
                click.echo(_describe(item.result))
    finally:
        queue.close()
