"""cardtrail store-client against a real server on 127.0.0.1: redemptions queue while the
server is stopped, and land exactly once, in order, when it is back on the same database;
the device signs only for the deployment it learned on first contact."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from anchoring import checkpoints
from anchoring.db import write_transaction
from anchoring.node import free_port
from cardtrail.app import create_app
from cardtrail.cli import main
from ledger_service.actor import Actor
from ledger_service.auth import create_token
from ledger_service.customer_api import KEY_HEADER
from ledger_service.devices import SigningDomain
from ledger_service.runtime import ledger
from store_client import DeviceKey, Offline, Queue, StoreClient, StoreClientError
from store_client.queue import QUEUE

HQ = Actor("hq", "tok_test")
PASSWORD = "counter password"
HERE = SigningDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
REPLACED = SigningDomain(31337, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")


def deploy(server, domain: SigningDomain) -> None:
    """Record ``domain`` as the server's current LedgerAnchor deployment."""
    with write_transaction(server.app.extensions["cardtrail"].engine) as conn:
        checkpoints.record_deployment(
            conn, domain.chain_id, domain.contract, "0x" + "de" * 20, "0x" + "01" * 32, 1
        )


@dataclass
class Server:
    """The CardTrail app served on a fixed local port; stop() cuts the network."""

    settings: object
    port: int
    app: object = None
    _server: object = None
    _thread: object = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # A fresh app on the same database, as after a restart.
        self.app = create_app(self.settings, {"TESTING": True})
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self.app.extensions["cardtrail"].engine.dispose()

    def call(self, method: str, path: str, token: str, body=None, key=None, headers=None):
        client = self.app.test_client()
        headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        if key is not None:
            headers["Idempotency-Key"] = key
        return client.open(f"/api/v1{path}", method=method, json=body, headers=headers)


@pytest.fixture
def server(settings):
    srv = Server(settings, free_port())
    srv.start()
    yield srv
    if srv._thread.is_alive():
        srv.stop()


@pytest.fixture
def setup(server, tmp_path):
    """A deployed server with stores S1 and S2, tokens, four cards, and a keygen'd S1 device
    registered by hq that has met the service once (and so knows its deployment)."""
    deploy(server, HERE)
    rt = server.app.extensions["cardtrail"]
    hq = create_token(rt.engine, rt.secret_key, "hq").token
    s1 = create_token(rt.engine, rt.secret_key, "store", "S1").token
    s2 = create_token(rt.engine, rt.secret_key, "store", "S2").token
    for n, store in enumerate(("S1", "S2")):
        body = {"store_id": store, "name": store, "region": "north"}
        assert server.call("POST", "/stores", hq, body, key=f"st-{n}").status_code == 201
    issued = server.call(
        "POST",
        "/cards",
        hq,
        {"batch_ref": "B1", "cards": [{"product": "Tea"}] * 4, "active": True},
        key="iss",
    )
    cards = [(c["card_number"], c["redemption_code"]) for c in issued.get_json()["cards"]]
    home = tmp_path / "counter"
    env = {
        "CARDTRAIL_STORE_HOME": str(home),
        "CARDTRAIL_SERVER_URL": server.url,
        "CARDTRAIL_STORE_TOKEN": s1,
        "CARDTRAIL_STORE_KEY_PASSWORD": PASSWORD,
    }
    runner = CliRunner()
    made = runner.invoke(
        main, ["store-client", "keygen", "--store", "S1", "--kdf-work", "1024"], env=env
    )
    assert made.exit_code == 0, made.output
    address = made.stdout.strip().splitlines()[0]
    registered = server.call("POST", "/stores/S1/keys", hq, {"address": address}, key="key")
    assert registered.status_code == 201
    met = runner.invoke(main, ["store-client", "sync"], env=env)
    assert met.exit_code == 0, met.output
    return {
        "hq": hq,
        "S1": s1,
        "S2": s2,
        "cards": cards,
        "env": env,
        "home": home,
        "address": address,
        "runner": runner,
    }


def cli(setup, *args):
    return setup["runner"].invoke(main, ["store-client", *args], env=setup["env"])


def card_events(server, setup, number):
    return server.call("GET", f"/cards/{number}", setup["hq"]).get_json()["events"]


def test_queued_redemptions_land_once_in_order_and_a_card_used_meanwhile_is_refused(server, setup):
    cards = setup["cards"]
    server.stop()
    for number, code in cards[:3]:
        queued = cli(setup, "redeem", number, code)
        assert queued.exit_code == 0, queued.output
        assert queued.output.startswith("queued ")
    offline = cli(setup, "sync")
    assert offline.exit_code == 2 and "3 still waiting" in offline.output

    server.start()
    # While the counter was offline, the second card was redeemed at another store.
    used, used_code = cards[1]
    online = server.call(
        "POST", f"/cards/{used}/redeem", setup["S2"], {"redemption_code": used_code}, key="online"
    )
    assert online.status_code == 200
    synced = cli(setup, "sync")
    assert synced.exit_code == 0, synced.output
    lines = synced.output.splitlines()
    assert lines[0].startswith("accepted ") and cards[0][0] in lines[0]
    assert lines[1].startswith("REFUSED ") and "CARD_ALREADY_USED" in lines[1]
    assert lines[2].startswith("accepted ") and cards[2][0] in lines[2]

    first, third = (card_events(server, setup, cards[i][0])[-1] for i in (0, 2))
    assert first["leaf_index"] < third["leaf_index"]
    assert first["occurred_at"] < third["occurred_at"] < first["recorded_at"]
    assert first["data"]["signer"] == third["data"]["signer"] == setup["address"]
    assert [e["type"] for e in card_events(server, setup, used)][-1] == "REDEEMED"
    assert card_events(server, setup, used)[-1]["store_id"] == "S2"
    with server.app.app_context():
        flagged = ledger().anomalies(HQ, kind="offline_conflict")
    assert [(a["card_number"], a["store_id"]) for a in flagged] == [(used, "S1")]

    status = cli(setup, "status")
    assert "waiting 0, accepted 2, refused 1" in status.output
    assert "CARD_ALREADY_USED" in status.output


def test_an_offline_partial_redemption_lands_for_the_amount_the_device_signed(server, setup):
    hq = setup["hq"]
    product = {"sku": "SV-CLI", "name_zh": "储值卡", "name_en": "Stored value"}
    product |= {"kind": "stored_value", "face_value": 10_000, "currency": "CNY"}
    assert server.call("POST", "/products", hq, product, key="prod").status_code == 201
    issued = server.call(
        "POST", "/cards", hq, {"batch_ref": "SV", "cards": [{"sku": "SV-CLI"}]}, key="sv"
    )
    [card] = issued.get_json()["cards"]
    number, code = card["card_number"], card["redemption_code"]
    activated = server.call("POST", f"/cards/{number}/activate", hq, {}, key="act")
    assert activated.status_code == 200
    server.stop()
    queued = cli(setup, "redeem", number, code, "--amount", "2500")
    assert queued.exit_code == 0 and queued.output.startswith("queued "), queued.output
    server.start()
    assert cli(setup, "sync").output.startswith("accepted ")
    event = card_events(server, setup, number)[-1]
    assert (event["type"], event["data"]["amount"], event["data"]["balance"]) == (
        "REDEEMED",
        2_500,
        7_500,
    )
    assert event["data"]["signed_amount"] == 2_500
    assert event["data"]["signer"] == setup["address"]


def test_a_lost_answer_is_resent_without_a_second_event(server, setup):
    (number, code), *_ = setup["cards"]
    assert cli(setup, "redeem", number, code).output.startswith("accepted ")
    events = len(card_events(server, setup, number))
    # The answer never reached the counter: put the item back to pending and resend.
    queue_db = sqlite3.connect(setup["home"] / QUEUE)
    with queue_db:
        item = json.loads(queue_db.execute("SELECT item FROM queue").fetchone()[0])
        item["redemption_code"] = code
        queue_db.execute(
            "UPDATE queue SET state='pending', result=NULL, item=?", (json.dumps(item),)
        )
    queue_db.close()
    again = cli(setup, "sync")
    assert "already decided" in again.output and again.output.startswith("accepted ")
    assert len(card_events(server, setup, number)) == events


def test_a_wrong_keystore_password_is_refused(setup):
    env = {**setup["env"], "CARDTRAIL_STORE_KEY_PASSWORD": "not it"}
    result = setup["runner"].invoke(main, ["store-client", "sync"], env=env)
    assert result.exit_code == 1 and "wrong password" in result.output


# --- the deployment the device signs for ---------------------------------------------------


class FakeService:
    """A service answering GET /api/v1/chain with ``chain``; it records every request."""

    def __init__(self, chain: dict) -> None:
        self.chain = chain
        self.calls: list[tuple[str, dict | None]] = []

    def __call__(self, url, body, headers):
        self.calls.append((url, body))
        if url.endswith("/api/v1/chain") and body is None:
            return 200, self.chain
        items = body["items"]
        return 200, {"results": [{"client_id": i["signature"]["client_id"]} for i in items]}


def fake_client(tmp_path, service: FakeService) -> StoreClient:
    key = DeviceKey(bytes([22] * 32))
    return StoreClient(
        Queue(tmp_path / "q.db"), key, "S1", "http://127.0.0.1:9", "tok", transport=service
    )


def test_a_device_that_never_reached_its_service_refuses_to_sign(tmp_path):
    def down(url, body, headers):
        raise Offline("connection refused")

    client = StoreClient(
        Queue(tmp_path / "q.db"),
        DeviceKey(bytes([23] * 32)),
        "S1",
        "http://127.0.0.1:9",
        "tok",
        transport=down,
    )
    with pytest.raises(StoreClientError, match="first contact"):
        client.queue_redemption("23456789ABCDEFGH8", "CODE")
    assert client.queue.all() == [] and client.queue.deployment() is None


def test_a_service_before_its_first_deployment_gets_no_signed_command(tmp_path):
    service = FakeService({"chain_id": None, "contract": None, "rpc_url": None})
    client = fake_client(tmp_path, service)
    with pytest.raises(StoreClientError, match="no deployed LedgerAnchor contract yet"):
        client.queue_redemption("23456789ABCDEFGH8", "CODE")
    assert client.queue.all() == [] and client.queue.deployment() is None


@pytest.mark.parametrize(
    "other",
    [SigningDomain(1, HERE.contract), REPLACED],
    ids=["another-chain", "another-contract"],
)
def test_nothing_is_sent_to_a_service_of_another_deployment(tmp_path, other):
    service = FakeService(HERE.to_json())
    client = fake_client(tmp_path, service)
    client_id = client.queue_redemption("23456789ABCDEFGH8", "SECRET-CODE")
    assert client.queue.deployment() == HERE
    service.chain, service.calls = other.to_json(), []
    with pytest.raises(StoreClientError, match="another deployment"):
        client.sync()
    assert [body for _, body in service.calls] == [None]  # asked who it is, sent nothing
    assert [q.client_id for q in client.queue.pending()] == [client_id]
    # The device keeps signing for the deployment it first learned, never for the other.
    client.queue_redemption("23456789ABCDEFGH8", "CODE-2")
    assert client.queue.deployment() == HERE


def test_a_counter_pointed_at_a_redeployed_service_refuses_to_sync(server, setup):
    (number, code), *_ = setup["cards"]
    deploy(server, REPLACED)
    refused = cli(setup, "redeem", number, code)
    assert refused.exit_code == 1 and "another deployment" in refused.output
    assert [e["type"] for e in card_events(server, setup, number)][-1] != "REDEEMED"
    status = cli(setup, "status")
    assert f"signs for chain 31337, contract {HERE.contract}" in status.output
    assert "waiting 1" in status.output


def test_an_offline_counter_completes_a_pickup_with_the_rotating_code_and_syncs_it_once(
    server, setup
):
    number, code = setup["cards"][0]
    asked = server.call(
        "POST",
        f"/customer/cards/{number}/pickups",
        None,
        {"mode": "store", "store_id": "S1", "redemption_code": code},
        key="ask",
    ).get_json()
    pickup = asked["pickup_id"]
    ready = server.call("POST", f"/pickups/{pickup}/ready", setup["S1"], {}, key="ready")
    assert ready.status_code == 200
    fetched = cli(setup, "pickups")
    assert fetched.exit_code == 0 and pickup in fetched.output
    # What the customer's page shows, just before the counter loses the service.
    shown = server.call(
        "GET", f"/customer/pickups/{pickup}", None, headers={KEY_HEADER: asked["access_key"]}
    ).get_json()["rotating_code"]
    server.stop()

    wrong = str((int(shown) + 1) % 1_000_000).zfill(6)
    refused = cli(setup, "complete", pickup, wrong, "--serial", "MT-2026-0001")
    assert refused.exit_code == 1 and "wrong pickup code" in refused.output
    queued = cli(setup, "complete", pickup, shown, "--serial", "MT-2026-0001")
    assert queued.exit_code == 0, queued.output
    assert queued.output.startswith("queued ")

    server.start()
    synced = cli(setup, "sync")
    assert synced.exit_code == 0, synced.output
    assert synced.output.startswith("accepted ") and "PICKUP_COMPLETED" in synced.output
    events = card_events(server, setup, number)
    done = events[-1]
    assert done["type"] == "PICKUP_COMPLETED"
    assert done["data"]["credential"] == "rotating_code"
    assert done["data"]["serials"] == ["MT-2026-0001"]
    assert done["data"]["signer"] == setup["address"]
    again = cli(setup, "sync")
    assert again.exit_code == 0 and "synced 0" in again.output
    assert len(card_events(server, setup, number)) == len(events)
    # The queue no longer holds the customer's code once the service decided.
    queue_db = sqlite3.connect(setup["home"] / QUEUE)
    items = [json.loads(row[0]) for row in queue_db.execute("SELECT item FROM queue")]
    queue_db.close()
    assert [item["code"] for item in items] == [None]
