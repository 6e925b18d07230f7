"""``cardtrail store-client``: a store's counter that keeps working when the service is out
of reach.

Every redemption is signed with the store device's key (an encrypted eth-account
keystore), written to a local queue (SQLite, synchronous commits: nothing acknowledged is
lost in a crash) and then sent through ``POST /api/v1/sync``. When the service cannot be
reached the command simply stays queued; ``sync`` (or the next redemption) sends
everything waiting, oldest first. The service decides each command once per client id,
so re-sending after a lost answer is always safe; a card that was used elsewhere in the
meantime comes back refused with its reason.

A device signs for one deployment only (the chain id and LedgerAnchor contract in the
EIP-712 domain). It learns them from the service's ``GET /api/v1/chain`` on first contact
and keeps them in its queue; from then on it checks the service before every sync and
sends nothing — no card number, no redemption code — to a service of another deployment.
A device that has never reached its service cannot sign, so run ``sync`` once online.

    cardtrail store-client keygen --store S1          # prints the address for headquarters
    cardtrail store-client sync                       # once online: learns the deployment
    cardtrail store-client redeem 2345-6789-ABCD-EFGH-8 K7Q2-9XPM
    cardtrail store-client sync
    cardtrail store-client status

Settings: ``--home`` (CARDTRAIL_STORE_HOME, default ./.cardtrail-store), ``--server``
(CARDTRAIL_SERVER_URL), ``--token`` (CARDTRAIL_STORE_TOKEN), the keystore password from
CARDTRAIL_STORE_KEY_PASSWORD, ``--password-file`` or a prompt.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from eth_account import Account

from anchoring.keys import write_private_file
from ledger_service import devices
from ledger_service.domain.numbers import CardNumberError, normalize_card_number
from ledger_service.events import utc_now

KEYSTORE = "device-keystore.json"
CONFIG = "store.json"
QUEUE = "queue.db"
BATCH = 200
"""Items per sync request (the service takes up to 500)."""
TIMEOUT = 10.0


class StoreClientError(Exception):
    """A problem the store's staff must act on (bad setup, a refused batch)."""


class Offline(StoreClientError):
    """The service could not be reached; queued commands stay queued."""


# --- the device key ------------------------------------------------------------------------


class DeviceKey:
    """The store device's decrypted key; only its address ever shows."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: bytes) -> None:
        self._key = private_key
        self.address = str(Account.from_key(private_key).address)

    def sign(
        self, command: devices.StoreCommand, domain: devices.SigningDomain
    ) -> devices.DeviceSignature:
        """Sign one store command for the deployment ``domain``."""
        return devices.sign(command, self._key, domain)

    def __repr__(self) -> str:
        return f"DeviceKey(address={self.address})"

    def __reduce__(self) -> Any:
        raise TypeError("a DeviceKey cannot be pickled")


def create_keystore(home: Path, store_id: str, password: str, work: int | None = None) -> str:
    """Make a new device key in ``home`` (encrypted, 0600); returns its address.

    ``work`` is the scrypt cost (default eth-account's); tests lower it.
    """
    path = home / KEYSTORE
    if path.exists():
        raise StoreClientError(f"{path} exists: this device already has a key")
    account = Account.create()
    keystore = Account.encrypt(account.key, password, kdf="scrypt", iterations=work)
    write_private_file(path, json.dumps(keystore))
    (home / CONFIG).write_text(json.dumps({"store_id": store_id, "address": account.address}))
    return str(account.address)


def load_key(home: Path, password: str) -> DeviceKey:
    """Decrypt the device key of ``home``."""
    path = home / KEYSTORE
    try:
        keystore = json.loads(path.read_text())
    except OSError as exc:
        raise StoreClientError(f"no device key at {path}: run keygen first") from exc
    try:
        return DeviceKey(bytes(Account.decrypt(keystore, password)))
    except ValueError:
        raise StoreClientError("wrong password for the device keystore") from None


def load_config(home: Path) -> dict[str, str]:
    """The store id and address written by keygen."""
    try:
        return dict(json.loads((home / CONFIG).read_text()))
    except OSError:
        raise StoreClientError(f"{home} has no device set up: run keygen first") from None


# --- the queue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedItem:
    """One signed command waiting for (or decided by) the service."""

    seq: int
    client_id: str
    item: dict[str, Any] = field(repr=False)
    state: str
    result: dict[str, Any] | None


class Queue:
    """Signed commands on disk, in the order they were made.

    SQLite with ``synchronous=FULL``: once :meth:`add` returns, the command survives a
    crash or a power cut. A redemption code is kept only until the service has decided.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queue ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " client_id TEXT NOT NULL UNIQUE,"
            " item TEXT NOT NULL,"
            " state TEXT NOT NULL DEFAULT 'pending',"
            " result TEXT,"
            " queued_at TEXT NOT NULL,"
            " decided_at TEXT)"
        )

        self._db.execute(
            "CREATE TABLE IF NOT EXISTS deployment ("
            " one INTEGER PRIMARY KEY CHECK (one = 1),"
            " chain_id INTEGER NOT NULL,"
            " contract TEXT NOT NULL,"
            " server TEXT NOT NULL,"
            " learned_at TEXT NOT NULL)"
        )

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def deployment(self) -> devices.SigningDomain | None:
        """The deployment this device signs for, or None before its first contact."""
        row = self._db.execute("SELECT chain_id, contract FROM deployment").fetchone()
        return None if row is None else devices.SigningDomain(int(row[0]), str(row[1]))

    def remember_deployment(
        self, domain: devices.SigningDomain, server: str, now: datetime
    ) -> devices.SigningDomain:
        """Keep ``domain`` as this device's deployment unless it already has one; returns
        the deployment kept (the first one learned, for good)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO deployment (one, chain_id, contract, server, learned_at)"
                " VALUES (1, ?, ?, ?, ?)",
                (domain.chain_id, domain.contract, server, devices.timestamp(now)),
            )
            chain_id, contract = db.execute("SELECT chain_id, contract FROM deployment").fetchone()
        return devices.SigningDomain(int(chain_id), str(contract))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add(self, item: dict[str, Any], now: datetime) -> int:
        """Queue a signed item; returns its position."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO queue (client_id, item, queued_at) VALUES (?, ?, ?)",
                (item["signature"]["client_id"], json.dumps(item), devices.timestamp(now)),
            )
        return int(cursor.lastrowid or 0)

    def pending(self, limit: int | None = None) -> list[QueuedItem]:
        """Items the service has not decided yet, oldest first."""
        return self._select("WHERE state = 'pending' ORDER BY seq", limit)

    def all(self) -> list[QueuedItem]:
        """Every item, oldest first."""
        return self._select("ORDER BY seq", None)

    def _select(self, where: str, limit: int | None) -> list[QueuedItem]:
        query = f"SELECT seq, client_id, item, state, result FROM queue {where}"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [
            QueuedItem(seq, cid, json.loads(item), state, json.loads(result) if result else None)
            for seq, cid, item, state, result in self._db.execute(query)
        ]

    def settle(self, results: list[dict[str, Any]], now: datetime) -> None:
        """Record the service's decisions; the codes of decided items are wiped."""
        with self._transaction() as db:
            for result in results:
                row = db.execute(
                    "SELECT item FROM queue WHERE client_id = ? AND state = 'pending'",
                    (result["client_id"],),
                ).fetchone()
                if row is None:
                    continue
                item = json.loads(row[0])
                if "redemption_code" in item:
                    item["redemption_code"] = None
                db.execute(
                    "UPDATE queue SET state = ?, result = ?, item = ?, decided_at = ?"
                    " WHERE client_id = ?",
                    (
                        result["status"],
                        json.dumps(result),
                        json.dumps(item),
                        devices.timestamp(now),
                        result["client_id"],
                    ),
                )

    def counts(self) -> dict[str, int]:
        """How many items are pending, accepted and refused."""
        out = {"pending": 0, "accepted": 0, "refused": 0}
        out.update(self._db.execute("SELECT state, count(*) FROM queue GROUP BY state"))
        return out


# --- talking to the service ------------------------------------------------------------------


@dataclass(frozen=True)
class SyncReport:
    """What one sync did: the service's results, and whether it was reachable."""

    results: list[dict[str, Any]]
    offline: bool
    pending: int


Transport = Callable[[str, dict[str, Any] | None, dict[str, str]], tuple[int, dict[str, Any]]]


def http_request(
    url: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as JSON, or GET when it is None; (status, JSON answer). Raises
    :class:`Offline` when nobody answers."""
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers if body is None else {"Content-Type": "application/json", **headers},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (urllib.error.URLError, OSError) as exc:
        raise Offline(f"service unreachable: {getattr(exc, 'reason', exc)}") from None


class StoreClient:
    """A store device: signs commands, queues them, and syncs the queue."""

    def __init__(
        self,
        queue: Queue,
        key: DeviceKey,
        store_id: str,
        server: str,
        token: str,
        *,
        transport: Transport = http_request,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.queue = queue
        self.key = key
        self.store_id = store_id
        self._server = server.rstrip("/")
        self._token = token
        self._transport = transport
        self._clock = clock

    def __repr__(self) -> str:
        return f"StoreClient(store={self.store_id}, key={self.key.address})"

    def deployment(self) -> devices.SigningDomain:
        """The deployment this device signs for: kept in the queue, or learned from the
        service now; StoreClientError if it was never reachable."""
        known = self.queue.deployment()
        if known is not None:
            return known
        try:
            served = self._served_deployment()
        except Offline:
            raise StoreClientError(
                "this device does not know which deployment it signs for yet: it learns that "
                "from the service on first contact, so run `cardtrail store-client sync` once "
                "while the service is reachable"
            ) from None
        return self.queue.remember_deployment(served, self._server, self._clock())

    def _served_deployment(self) -> devices.SigningDomain:
        """The deployment the service says it is (``GET /api/v1/chain``)."""
        status, answer = self._transport(f"{self._server}/api/v1/chain", None, {})
        if status >= 500:
            raise Offline(f"the service answered {status}")
        if status != 200:
            raise StoreClientError(f"the service did not say which deployment it is ({status})")
        if isinstance(answer, dict) and answer.get("contract") is None:
            raise StoreClientError(
                f"the service at {self._server} has no deployed LedgerAnchor contract yet, so "
                "there is no deployment to sign for: wait until `cardtrail up` deploys it"
            )
        try:
            return devices.SigningDomain.from_json(answer)
        except ValueError as exc:
            raise StoreClientError(
                f"the service's chain answer is not a deployment: {exc}"
            ) from None

    def _check_deployment(self) -> None:
        """Refuse a service of another deployment than the one this device signs for."""
        served = self._served_deployment()
        known = self.queue.remember_deployment(served, self._server, self._clock())
        if served != known:
            raise StoreClientError(
                f"the service at {self._server} is anchored to {served.describe()}, but this "
                f"device signs for {known.describe()}: it belongs to another deployment, so "
                "nothing was sent"
            )

    def queue_redemption(self, card_number: str, redemption_code: str) -> str:
        """Sign and queue a redemption made now, for this device's deployment; returns its
        client id."""
        try:
            number = normalize_card_number(card_number)
        except CardNumberError as exc:
            raise StoreClientError(f"not a card number: {exc}") from None
        domain = self.deployment()
        client_id = "c-" + secrets.token_hex(12)
        now = self._clock()
        command = devices.StoreCommand(
            number, "redeem", self.store_id, "", devices.timestamp(now), client_id
        )
        item = {
            "action": "redeem",
            "card_number": number,
            "redemption_code": redemption_code,
            "signature": self.key.sign(command, domain).to_json(),
        }
        self.queue.add(item, now)
        return client_id

    def sync(self) -> SyncReport:
        """Check that the service is this device's deployment (learning it on first
        contact), then send every pending item, oldest first, until the queue is empty or
        the service is out of reach."""
        results: list[dict[str, Any]] = []
        try:
            self._check_deployment()
        except Offline:
            return SyncReport(results, offline=True, pending=len(self.queue.pending()))
        while True:
            batch = self.queue.pending(BATCH)
            if not batch:
                return SyncReport(results, offline=False, pending=0)
            try:
                status, answer = self._transport(
                    f"{self._server}/api/v1/sync",
                    {"items": [q.item for q in batch]},
                    {
                        "Authorization": f"Bearer {self._token}",
                        "Idempotency-Key": "sync-" + secrets.token_hex(12),
                    },
                )
            except Offline:
                return SyncReport(results, offline=True, pending=len(self.queue.pending()))
            if status >= 500:
                return SyncReport(results, offline=True, pending=len(self.queue.pending()))
            if status != 200:
                raise StoreClientError(
                    f"the service refused the batch: {answer.get('code', status)} "
                    f"{answer.get('detail', '')}".rstrip()
                )
            sent = {q.client_id for q in batch}
            if {r.get("client_id") for r in answer.get("results", [])} != sent:
                raise StoreClientError("the service's answer does not match the batch sent")
            self.queue.settle(answer["results"], self._clock())
            results.extend(answer["results"])

    def redeem(self, card_number: str, redemption_code: str) -> tuple[str, SyncReport]:
        """Queue a redemption and try to send the queue; (client id, sync report)."""
        client_id = self.queue_redemption(card_number, redemption_code)
        return client_id, self.sync()


# --- the command line ---------------------------------------------------------------------


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
@click.pass_context
def redeem_command(ctx: click.Context, card_number: str, redemption_code: str) -> None:
    """Redeem a card: signed, queued, and sent at once if the service is reachable."""
    client = _client(ctx)
    try:
        client_id, report = client.redeem(card_number, redemption_code)
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
