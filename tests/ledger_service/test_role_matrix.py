"""Every ``/api/v1`` endpoint × every kind of caller → the status it must get.

Callers: no token, headquarters, the staff of store A (S1), the staff of store B (S2), an
auditor, a revoked headquarters token and a malformed token. Each cell runs on fresh state
(its own card or pickup), so a success in one cell cannot turn the next into a conflict.
A refused cell must leave the log as it was. The test prints the matrix it checked.

Runs on SQLite and PostgreSQL (``app`` follows ``db_url``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from apptools import set_limits

from anchoring import checkpoints
from anchoring.db import write_transaction
from anchoring.log import MerkleLog
from ledger_service.auth import create_token, revoke_token
from ledger_service.customer_api import KEY_HEADER
from ledger_service.openapi import api_routes
from ledger_service.schema import products

CALLERS = ("none", "hq", "store A", "store B", "auditor", "revoked", "malformed")
UNAUTH = {"none": 401, "revoked": 401, "malformed": 401}
PUBLIC = {who: 200 for who in CALLERS}

_serial = itertools.count()


def merchant(hq: int, store_a: int, store_b: int, auditor: int) -> dict[str, int]:
    """Expected statuses of a route that needs a token."""
    return {"hq": hq, "store A": store_a, "store B": store_b, "auditor": auditor, **UNAUTH}


@dataclass
class World:
    """Fresh cards and pickups for each cell, made by headquarters."""

    api: Any  # the ``api`` fixture's client (tests/ledger_service/conftest.py)

    def card(self, *, claimed: bool = True, **spec: Any) -> tuple[str, str]:
        body = {
            "batch_ref": f"RM-{next(_serial)}",
            "cards": [{"product": "Tea", **spec}],
            "active": True,
        }
        response = self.api.post("/cards", body)
        assert response.status_code == 201, response.get_json()
        card = response.get_json()["cards"][0]
        if claimed:
            claim = self.api.post(f"/cards/{card['card_number']}/claim", {"holder_ref": "crm-7"})
            assert claim.status_code == 200, claim.get_json()
        return card["card_number"], card["redemption_code"]

    def address(self) -> str:
        return "0x" + f"{next(_serial):040x}"

    def product(self, kind: str = "stored_value") -> str:
        """A new product's SKU (stored value: 100.00 CNY)."""
        sku = f"SKU-{next(_serial)}"
        body = {"sku": sku, "name_zh": "储值卡", "name_en": "Card", "kind": kind}
        if kind == "stored_value":
            body |= {"face_value": 10_000, "currency": "CNY"}
        assert self.api.post("/products", body).status_code == 201
        return sku

    def value_card(self, *, active: bool = True) -> tuple[str, str]:
        """A stored-value card of a new product: sold (100.00 CNY), or still in stock."""
        body = {
            "batch_ref": f"RM-{next(_serial)}",
            "cards": [{"sku": self.product()}],
            "active": active,
        }
        response = self.api.post("/cards", body)
        assert response.status_code == 201, response.get_json()
        card = response.get_json()["cards"][0]
        return card["card_number"], card["redemption_code"]

    def channel(self) -> str:
        channel_id = f"CH-{next(_serial)}"
        body = {"channel_id": channel_id, "name": "Shop", "kind": "online"}
        assert self.api.post("/channels", body).status_code == 201
        return channel_id

    def redeemed_leaf(self) -> tuple[str, int]:
        """A value card after a redemption of 10.00, and that redemption's leaf."""
        number, code = self.value_card()
        body = {"redemption_code": code, "amount": 1_000}
        response = self.api.post(f"/cards/{number}/redeem", body)
        assert response.status_code == 200, response.get_json()
        return number, response.get_json()["leaf_index"]

    def key(self) -> str:
        """A device key freshly registered for store A."""
        address = self.address()
        response = self.api.post("/stores/S1/keys", {"address": address})
        assert response.status_code == 201, response.get_json()
        return address

    def blocked(self) -> str:
        number, _ = self.card()
        assert self.api.post(f"/cards/{number}/block", {"reason": "lost"}).status_code == 200
        return number

    def pickup(self, mode: str = "store", ready: bool = False, reviewed: bool = False) -> str:
        """A pickup of a fresh card: at store A, or for delivery (``reviewed``: by HQ)."""
        number, code = self.card()
        body = {"mode": "store", "store_id": "S1", "redemption_code": code}
        if mode == "delivery":
            body = {"mode": "delivery", "redemption_code": code, "address_ref": "addr-1"}
        response = self.api.post(f"/cards/{number}/pickups", body)
        assert response.status_code == 201, response.get_json()
        pid = response.get_json()["pickup_id"]
        if ready:
            assert self.api.post(f"/pickups/{pid}/ready").status_code == 200
        if reviewed:
            assert self.api.post(f"/pickups/{pid}/review").status_code == 200
        return pid

    def customer_pickup(self) -> dict[str, Any]:
        """A store pickup at store A that a customer requested (with its access key)."""
        number, code = self.card(claimed=False)
        body = {"mode": "store", "store_id": "S1", "redemption_code": code}
        response = self.api.post(f"/customer/cards/{number}/pickups", body, who=None)
        assert response.status_code == 201, response.get_json()
        return {**response.get_json(), "code": code}

    def gift(self) -> dict[str, Any]:
        """An open gift offer of a fresh card (with the card's code)."""
        number, code = self.card(claimed=False)
        response = self.api.post(
            f"/customer/cards/{number}/gift", {"redemption_code": code}, who=None
        )
        assert response.status_code == 201, response.get_json()
        return {**response.get_json(), "code": code}


Request = tuple[str, str, Any]  # method, path under /api/v1, JSON body (a GET's headers)


def _issue(w: World) -> Request:
    return "POST", "/cards", {"batch_ref": f"RM-{next(_serial)}", "cards": [{"product": "Tea"}]}


def _store(w: World) -> Request:
    return "POST", "/stores", {"store_id": f"N{next(_serial)}", "name": "New", "region": "east"}


def _on_card(
    action: str, body: Callable[[str], dict[str, Any]], **card: Any
) -> Callable[[World], Request]:
    def make(w: World) -> Request:
        number, code = w.card(**card)
        return "POST", f"/cards/{number}/{action}", body(code)

    return make


def _unblock(w: World) -> Request:
    return "POST", f"/cards/{w.blocked()}/unblock", {"reason": "found"}


def _step(
    step: str,
    mode: str = "store",
    ready: bool = False,
    reviewed: bool = False,
    body: Any = None,
) -> Callable[[World], Request]:
    def make(w: World) -> Request:
        pid = w.pickup(mode, ready, reviewed)
        return "POST", f"/pickups/{pid}/{step}", body if body is not None else {}

    return make


def _complete(w: World) -> Request:
    number, code = w.card()
    body = {"mode": "store", "store_id": "S1", "redemption_code": code}
    pid = w.api.post(f"/cards/{number}/pickups", body).get_json()["pickup_id"]
    assert w.api.post(f"/pickups/{pid}/ready").status_code == 200
    return "POST", f"/pickups/{pid}/complete", {"credential": "card_code", "code": code}


def _customer_card(suffix: str, body: Callable[[str], Any]) -> Callable[[World], Request]:
    def make(w: World) -> Request:
        number, code = w.card(claimed=False)
        return "POST", f"/customer/cards/{number}/{suffix}", body(code)

    return make


def _customer_pickup(
    suffix: str, body: Callable[[dict[str, Any]], Any]
) -> Callable[[World], Request]:
    def make(w: World) -> Request:
        pickup = w.customer_pickup()
        return "POST", f"/customer/pickups/{pickup['pickup_id']}/{suffix}", body(pickup)

    return make


def _accept(w: World) -> Request:
    offer = w.gift()
    body = {"token": offer["token"], "holder_ref": "friend"}
    return "POST", f"/customer/gifts/{offer['offer_id']}/accept", body


def _withdraw(w: World) -> Request:
    offer = w.gift()
    body = {"redemption_code": offer["code"]}
    return "POST", f"/customer/cards/{offer['card_number']}/gift/withdraw", body


def _register_key(w: World) -> Request:
    return "POST", "/stores/S1/keys", {"address": w.address(), "label": "till 1"}


def _revoke_key(w: World) -> Request:
    return "POST", f"/stores/S1/keys/{w.key()}/revoke", {}


def _sync(w: World) -> Request:
    # A well-formed item with a signature nobody made: a store's batch is answered 200
    # with the item refused; other roles never get that far.
    number, code = w.card()
    signature = {
        "signer": w.address(),
        "signature": "0x" + "11" * 65,
        "client_id": f"till-{next(_serial):08d}",
        "signed_at": "2026-11-24T06:17:10.123Z",
        "signed_amount": 0,
    }
    item = {
        "action": "redeem",
        "card_number": number,
        "redemption_code": code,
        "signature": signature,
    }
    return "POST", "/sync", {"items": [item]}


def _allocate(w: World) -> Request:
    number, _ = w.value_card(active=False)
    sku = w.api.get(f"/cards/{number}").get_json()["sku"]
    return "POST", f"/channels/{w.channel()}/allocations", {"sku": sku, "count": 1, "price": 9_000}


def _refund(w: World) -> Request:
    number, leaf = w.redeemed_leaf()
    return "POST", f"/cards/{number}/refund", {"refund_of": leaf, "amount": 1, "store_id": "S1"}


def _transfer_balance(w: World) -> Request:
    (number, code), (other, _) = w.value_card(), w.value_card()
    body = {"redemption_code": code, "to_card_number": other, "amount": 100}
    return "POST", f"/cards/{number}/transfer-balance", body


def _on_value_card(
    action: str, body: dict[str, Any], *, active: bool = True
) -> Callable[[World], Request]:
    return lambda w: ("POST", f"/cards/{w.value_card(active=active)[0]}/{action}", body)


def _product(w: World) -> Request:
    body = {"sku": f"NEW-{next(_serial)}", "name_zh": "茶", "name_en": "Tea", "kind": "pickup"}
    return "POST", "/products", body


def _activations(w: World) -> Request:
    body = {"card_numbers": [w.value_card(active=False)[0]], "store_id": "S1"}
    return "POST", "/activations", body


def _get(path: str | Callable[[World], str]) -> Callable[[World], Request]:
    def make(w: World) -> Request:
        return "GET", path(w) if callable(path) else path, None

    return make


def _opened(page: Callable[[World], tuple[str, str]]) -> Callable[[World], Request]:
    """A GET of a customer's pickup or gift, opened by its key in the header."""

    def make(w: World) -> Request:
        path, key = page(w)
        return "GET", path, {KEY_HEADER: key}

    return make


def _card_path(suffix: str = "", prefix: str = "/cards/") -> Callable[[World], str]:
    return lambda w: prefix + w.card(claimed=False)[0] + suffix


def _rename_token(w: World) -> Request:
    token_id = w.api.tokens["S1"].split("_")[1]
    return "POST", f"/tokens/{token_id}/name", {"name": "张三"}


def _add_product(engine) -> None:
    # The stock routes need a product in the catalogue (its API is another module's).
    with write_transaction(engine) as conn:
        conn.execute(
            sa.insert(products),
            {
                "sku": "MT500",
                "name_zh": "茅台",
                "name_en": "Moutai",
                "kind": "pickup",
                "units": 1,
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            },
        )


# (route as in the OpenAPI document, method) → how to make the request, expected statuses.
MATRIX: dict[tuple[str, str], tuple[Callable[[World], Request], dict[str, int]]] = {
    ("/api/v1/stores", "post"): (_store, merchant(201, 403, 403, 403)),
    ("/api/v1/stores", "get"): (_get("/stores"), merchant(200, 200, 200, 200)),
    ("/api/v1/cards", "post"): (_issue, merchant(201, 403, 403, 403)),
    ("/api/v1/cards/{number}", "get"): (_get(_card_path()), merchant(200, 200, 200, 200)),
    ("/api/v1/cards/{number}/claim", "post"): (
        _on_card("claim", lambda c: {"holder_ref": "crm-8"}, claimed=False),
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/cards/{number}/transfer", "post"): (
        _on_card("transfer", lambda c: {"redemption_code": c, "to_holder_ref": "crm-9"}),
        merchant(200, 403, 403, 403),
    ),
    # Every caller names store A: store B's staff may not act for it.
    ("/api/v1/cards/{number}/redeem", "post"): (
        _on_card("redeem", lambda c: {"redemption_code": c, "store_id": "S1"}),
        merchant(200, 200, 403, 403),
    ),
    ("/api/v1/cards/{number}/block", "post"): (
        _on_card("block", lambda c: {"reason": "stolen"}),
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/cards/{number}/unblock", "post"): (_unblock, merchant(200, 403, 403, 403)),
    ("/api/v1/cards/{number}/void", "post"): (
        _on_card("void", lambda c: {"reason": "misprint"}),
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/cards/{number}/pickups", "post"): (
        _on_card("pickups", lambda c: {"mode": "store", "store_id": "S1", "redemption_code": c}),
        merchant(201, 403, 403, 403),
    ),
    # The pickups below are all at store A.
    ("/api/v1/pickups/{id}/ready", "post"): (_step("ready"), merchant(200, 200, 403, 403)),
    ("/api/v1/pickups/{id}/review", "post"): (
        _step("review", mode="delivery"),
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/pickups/{id}/ship", "post"): (
        _step(
            "ship",
            mode="delivery",
            reviewed=True,
            body={"carrier": "SF", "tracking_number": "SF1"},
        ),
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/pickups/{id}/complete", "post"): (_complete, merchant(200, 200, 403, 403)),
    ("/api/v1/pickups/{id}/cancel", "post"): (_step("cancel"), merchant(200, 403, 403, 403)),
    ("/api/v1/pickups/{id}/move", "post"): (
        _step("move", body={"store_id": "S2"}),
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/pickups/ready", "get"): (_get("/pickups/ready"), merchant(403, 200, 200, 403)),
    # The customer's routes take no token: any Authorization header is ignored.
    ("/api/v1/customer/cards/{number}/claim", "post"): (
        _customer_card("claim", lambda c: {"redemption_code": c, "holder_ref": "me"}),
        PUBLIC,
    ),
    ("/api/v1/customer/cards/{number}/verify", "post"): (
        _customer_card("verify", lambda c: {"redemption_code": c}),
        PUBLIC,
    ),
    ("/api/v1/customer/cards/{number}/pickups", "post"): (
        _customer_card(
            "pickups", lambda c: {"mode": "store", "store_id": "S1", "redemption_code": c}
        ),
        {who: 201 for who in CALLERS},
    ),
    ("/api/v1/customer/cards/{number}/pickup", "post"): (
        _customer_card("pickup", lambda c: {"redemption_code": c}),
        PUBLIC,
    ),
    ("/api/v1/customer/cards/{number}/gift", "post"): (
        _customer_card("gift", lambda c: {"redemption_code": c}),
        {who: 201 for who in CALLERS},
    ),
    ("/api/v1/customer/cards/{number}/gift/withdraw", "post"): (_withdraw, PUBLIC),
    ("/api/v1/customer/pickups/{id}", "get"): (
        _opened(
            lambda w: (
                (p := w.customer_pickup())
                and (f"/customer/pickups/{p['pickup_id']}", p["access_key"])
            )
        ),
        PUBLIC,
    ),
    ("/api/v1/customer/pickups/{id}/cancel", "post"): (
        _customer_pickup("cancel", lambda p: {"redemption_code": p["code"]}),
        PUBLIC,
    ),
    ("/api/v1/customer/pickups/{id}/move", "post"): (
        _customer_pickup("move", lambda p: {"redemption_code": p["code"], "store_id": "S2"}),
        PUBLIC,
    ),
    ("/api/v1/customer/gifts/{id}", "get"): (
        _opened(lambda w: (o := w.gift()) and (f"/customer/gifts/{o['offer_id']}", o["token"])),
        PUBLIC,
    ),
    ("/api/v1/customer/gifts/{id}/accept", "post"): (_accept, PUBLIC),
    # Device keys of store A; offline sync is for store tokens only.
    ("/api/v1/stores/{store_id}/keys", "post"): (_register_key, merchant(201, 403, 403, 403)),
    ("/api/v1/stores/{store_id}/keys", "get"): (
        _get("/stores/S1/keys"),
        merchant(200, 200, 403, 200),
    ),
    ("/api/v1/stores/{store_id}/keys/{address}/revoke", "post"): (
        _revoke_key,
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/sync", "post"): (_sync, merchant(403, 200, 200, 403)),
    # Products, channels, sales and value: stores sell, top up and refund at their own
    # counter (every caller names store A).
    ("/api/v1/products", "post"): (_product, merchant(201, 403, 403, 403)),
    ("/api/v1/products", "get"): (_get("/products"), merchant(200, 200, 200, 200)),
    ("/api/v1/products/{sku}", "get"): (
        _get(lambda w: f"/products/{w.product()}"),
        merchant(200, 200, 200, 200),
    ),
    ("/api/v1/channels", "post"): (
        lambda w: (
            "POST",
            "/channels",
            {"channel_id": f"C{next(_serial)}", "name": "D", "kind": "distributor"},
        ),
        merchant(201, 403, 403, 403),
    ),
    ("/api/v1/channels", "get"): (_get("/channels"), merchant(200, 403, 403, 200)),
    ("/api/v1/channels/{channel_id}/allocations", "post"): (
        _allocate,
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/cards/{number}/activate", "post"): (
        _on_value_card("activate", {"store_id": "S1"}, active=False),
        merchant(200, 200, 403, 403),
    ),
    ("/api/v1/activations", "post"): (_activations, merchant(200, 200, 403, 403)),
    ("/api/v1/cards/{number}/load", "post"): (
        _on_value_card("load", {"amount": 500, "store_id": "S1"}),
        merchant(200, 200, 403, 403),
    ),
    ("/api/v1/cards/{number}/refund", "post"): (_refund, merchant(200, 200, 403, 403)),
    ("/api/v1/cards/{number}/adjust", "post"): (
        _on_value_card("adjust", {"amount": -100, "reason": "till error"}),
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/cards/{number}/transfer-balance", "post"): (
        _transfer_balance,
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/openapi.json", "get"): (_get("/openapi.json"), PUBLIC),
    ("/api/v1/public/cards/{number}", "get"): (_get(_card_path(prefix="/public/cards/")), PUBLIC),
    ("/api/v1/public/cards/{number}/bundle", "get"): (
        _get(_card_path("/bundle", prefix="/public/cards/")),
        PUBLIC,
    ),
    ("/api/v1/chain", "get"): (_get("/chain"), PUBLIC),
    ("/api/v1/log/checkpoints", "get"): (_get("/log/checkpoints"), PUBLIC),
    ("/api/v1/log/checkpoints/latest", "get"): (_get("/log/checkpoints/latest"), PUBLIC),
    ("/api/v1/log/proofs/inclusion", "get"): (
        _get("/log/proofs/inclusion?leaf_index=0&tree_size=1"),
        PUBLIC,
    ),
    ("/api/v1/log/proofs/consistency", "get"): (
        _get("/log/proofs/consistency?first=1&second=2"),
        PUBLIC,
    ),
    ("/api/v1/log/leaves", "get"): (_get("/log/leaves?start=0"), PUBLIC),
    ("/api/v1/stores/{store_id}", "post"): (
        lambda w: ("POST", "/stores/S1", {"city": "上海"}),
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/stock", "get"): (_get("/stock"), merchant(200, 200, 200, 200)),
    ("/api/v1/stores/{store_id}/stock/{sku}", "post"): (
        lambda w: ("POST", "/stores/S1/stock/MT500", {"on_hand": 5, "low_water": 1}),
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/stores/{store_id}/stock/{sku}/adjust", "post"): (
        lambda w: ("POST", "/stores/S1/stock/MT500/adjust", {"delta": 1}),
        merchant(200, 403, 403, 403),
    ),
    ("/api/v1/tokens", "get"): (_get("/tokens"), merchant(200, 403, 403, 403)),
    ("/api/v1/tokens/{token_id}/name", "post"): (_rename_token, merchant(200, 403, 403, 403)),
    ("/api/v1/public/cards/{number}/checks", "get"): (
        _get(_card_path("/checks", prefix="/public/cards/")),
        PUBLIC,
    ),
    ("/api/v1/public/serials", "get"): (_get("/public/serials?serial=MT-1"), PUBLIC),
    ("/api/v1/public/products/{sku}/stores", "get"): (
        _get("/public/products/MT500/stores"),
        PUBLIC,
    ),
}


@pytest.fixture
def callers(app, api) -> dict[str, str | None]:
    """The Authorization token each caller sends (None: no header)."""
    rt = app.extensions["cardtrail"]
    revoked = create_token(rt.engine, rt.secret_key, "hq")
    assert revoke_token(rt.engine, revoked.id)
    return {
        "none": None,
        "hq": api.tokens["hq"],
        "store A": api.tokens["S1"],
        "store B": api.tokens["S2"],
        "auditor": api.tokens["auditor"],
        "revoked": revoked.token,
        "malformed": "ct_" + "z" * 12 + "_" + "0" * 40,
    }


def _anchor_head(engine) -> None:
    # As the worker records a confirmed anchor, so that the auditors' routes have something
    # to prove against (no chain needed for their HTTP status).
    with write_transaction(engine) as conn:
        deployment = checkpoints.record_deployment(
            conn, 31337, "0x" + "5f" * 20, "0x" + "de" * 20, "0x" + "01" * 32, 1
        )
        head = MerkleLog(conn).checkpoint()
        checkpoints.record_checkpoint(
            conn, deployment, head, "0x" + head.root.hex(), 2, "0x" + "02" * 32
        )


def test_matrix_covers_every_api_route(app):
    routes = {(path, method) for path, method, _ in api_routes(app)}
    assert routes == set(MATRIX), "a route was added or removed: extend the matrix"


def test_every_route_answers_each_caller_as_its_role_allows(app, api, callers, log_size, capsys):
    # Every cell is one client: the customer routes' per-client budget would run out.
    set_limits(app, customer_per_client=None)
    world = World(api)
    world.card()  # two leaves at least, for the consistency proof
    _anchor_head(app.extensions["cardtrail"].engine)
    _add_product(app.extensions["cardtrail"].engine)
    # One client calls every public route seven times: past the per-address lookup budget,
    # which its own tests probe; here only the roles are checked.
    set_limits(app, public_per_ip=None)
    wrong: list[str] = []
    table: list[tuple[str, list[str]]] = []
    for (path, method), (make, expected) in MATRIX.items():
        row = []
        for who in CALLERS:
            verb, url, body = make(world)
            before = log_size()
            if verb == "GET":
                response = api.get(url, who=callers[who], headers=body)
            else:
                response = api.post(url, body, who=callers[who])
            got = response.status_code
            row.append(str(got) if got == expected[who] else f"{got}≠{expected[who]}")
            if got != expected[who]:
                wrong.append(f"{method.upper()} {path} as {who}: {got}, want {expected[who]}")
            if got >= 400 and log_size() != before:
                wrong.append(
                    f"{method.upper()} {path} as {who}: refused ({got}) but wrote to the log"
                )
        table.append((f"{method.upper():4} {path}", row))
    with capsys.disabled():
        width = max(len(name) for name, _ in table)
        print(f"\n{'route':{width}}  " + "  ".join(f"{c:>9}" for c in CALLERS))
        for name, row in table:
            print(f"{name:{width}}  " + "  ".join(f"{c:>9}" for c in row))
    assert not wrong, "\n".join(wrong)


def test_store_staff_never_see_another_stores_pickups(api):
    number, code = World(api).card(allowed_stores=["S1", "S2"])
    body = {"mode": "store", "store_id": "S1", "redemption_code": code}
    pid = api.post(f"/cards/{number}/pickups", body).get_json()["pickup_id"]
    seen = {
        who: [p["pickup_id"] for p in api.get(f"/cards/{number}", who=who).get_json()["pickups"]]
        for who in ("hq", "auditor", "S1", "S2")
    }
    assert seen == {"hq": [pid], "auditor": [pid], "S1": [pid], "S2": []}
