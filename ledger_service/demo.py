"""Demo data for ``cardtrail up --demo``: a baijiu merchant with stores and cards in every state.

Everything is written through :class:`~ledger_service.service.Ledger` commands, so every
demo event is a real log event that verifies like any other. On a fresh database the story
is spread over the last two weeks (the ledger's clock is a :class:`DemoClock` that the
seeding moves forward), so the console's charts have days to show. Seeding is idempotent:
once the demo's stores exist, :func:`seed` only reports what is there.

    >>> import tempfile
    >>> from anchoring.db import create_engine
    >>> from ledger_service import db
    >>> engine = create_engine(f"sqlite:///{tempfile.mkdtemp()}/demo.db")
    >>> db.upgrade(engine)
    >>> clock = DemoClock()
    >>> summary = seed(Ledger(engine, bytes(32), clock=clock), engine, cards=30, clock=clock)
    >>> summary.seeded, sorted(summary.states) == sorted(s.value for s in CardState)
    (True, True)
    >>> seed(Ledger(engine, bytes(32)), engine).seeded
    False
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from anchoring.db import read_transaction
from ledger_service.actor import CUSTOMER, SYSTEM, Actor
from ledger_service.auth import create_token
from ledger_service.domain.codes import generate_code
from ledger_service.domain.lifecycle import CardState
from ledger_service.errors import LedgerError
from ledger_service.events import utc_now
from ledger_service.runtime import Runtime
from ledger_service.schema import cards as cards_table
from ledger_service.schema import stores
from ledger_service.service import REDEMPTION_BURST, Ledger

BRAND = "岭泉酒业 Lingquan Baijiu"
ISSUER_NAMES = ("岭泉酒业（演示）", "Lingquan Baijiu (demo)")
"""The development issuer's names (Chinese, English) on a data directory holding the demo:
customers see the merchant whose cards they hold, marked as a demonstration."""
BATCH_PREFIX = "DEMO-"
DAYS = 14
DEFAULT_CARDS = 300

STORES: tuple[tuple[str, str, str], ...] = (
    ("BJ01", "北京王府井旗舰店 Beijing Wangfujing Flagship", "north"),
    ("SH01", "上海南京西路店 Shanghai West Nanjing Road", "east"),
    ("GZ01", "广州天河店 Guangzhou Tianhe", "south"),
    ("CD01", "成都太古里店 Chengdu Taikoo Li", "west"),
)
# Where customers find the demo stores (the pickup choice lists them by city).
STORE_PLACES: dict[str, dict[str, Any]] = {
    "BJ01": {
        "city": "北京",
        "address": "北京市东城区王府井大街 138 号",
        "opening_hours": "10:00-22:00",
        "latitude": 39.9139,
        "longitude": 116.4107,
    },
    "SH01": {
        "city": "上海",
        "address": "上海市静安区南京西路 1266 号",
        "opening_hours": "10:00-22:00",
        "latitude": 31.2286,
        "longitude": 121.4520,
    },
    "GZ01": {
        "city": "广州",
        "address": "广州市天河区天河路 383 号",
        "opening_hours": "10:00-22:00",
        "latitude": 23.1327,
        "longitude": 113.3270,
    },
    "CD01": {
        "city": "成都",
        "address": "成都市锦江区中纱帽街 8 号",
        "opening_hours": "10:00-23:00",
        "latitude": 30.6534,
        "longitude": 104.0832,
    },
}
PRODUCTS: tuple[tuple[str, int], ...] = (
    ("岭泉 53° 酱香 500ml · Lingquan 53% Jiangxiang 500ml", 149_900),
    ("岭泉 生肖纪念版 1L · Zodiac Edition 1L", 399_900),
    ("岭泉 双支礼盒 2×500ml · Gift Box 2×500ml", 268_800),
    ("岭泉 品鉴小酒 6×100ml · Tasting Set 6×100ml", 59_900),
)

# The path each demo card takes, named by the state it ends in; ISSUED_SOON and
# COMPLETED_DELIVERY end in ISSUED and PICKUP_COMPLETED by other routes.
PATHS: dict[str, tuple[str, ...]] = {
    "INACTIVE": (),
    "ISSUED": (),
    "ISSUED_SOON": (),
    "CLAIMED": ("claim",),
    "TRANSFERRED": ("claim", "transfer"),
    "PICKUP_REQUESTED": ("claim", "request_store"),
    "PICKUP_READY": ("claim", "request_store", "ready"),
    "PICKUP_REVIEWED": ("claim", "request_delivery", "review"),
    "PICKUP_SHIPPED": ("claim", "request_delivery", "review", "ship"),
    "PICKUP_COMPLETED": ("claim", "request_store", "ready", "complete"),
    "COMPLETED_DELIVERY": ("claim", "request_delivery", "review", "ship", "complete"),
    "GIFT_OFFERED": ("claim", "gift"),
    "REDEEMED": ("redeem",),
    "BLOCKED": ("claim", "block"),
    "VOIDED": ("void",),
    "EXPIRED": (),
}
WEIGHTS: dict[str, int] = {
    "INACTIVE": 6,
    "ISSUED": 14,
    "ISSUED_SOON": 4,
    "CLAIMED": 10,
    "TRANSFERRED": 6,
    "PICKUP_REQUESTED": 6,
    "PICKUP_READY": 5,
    "PICKUP_REVIEWED": 2,
    "PICKUP_SHIPPED": 4,
    "PICKUP_COMPLETED": 10,
    "GIFT_OFFERED": 2,
    "COMPLETED_DELIVERY": 4,
    "REDEEMED": 24,
    "BLOCKED": 3,
    "VOIDED": 3,
    "EXPIRED": 5,
}
_FINAL_STATE = {"ISSUED_SOON": "ISSUED", "COMPLETED_DELIVERY": "PICKUP_COMPLETED"}

HQ = Actor("hq", "demo-hq")


class DemoClock:
    """The demo ledger's clock: a moment the seeding sets, or the real time when unset."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or utc_now()


@dataclass(frozen=True)
class DemoCard:
    """A demo card worth opening; the code is known only right after seeding."""

    card_number: str
    state: str
    product: str
    redemption_code: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DemoSummary:
    """What the demo holds: whether this call seeded it, stores, cards per state, examples."""

    seeded: bool
    stores: tuple[tuple[str, str, str], ...]
    states: Mapping[str, int]
    examples: tuple[DemoCard, ...]
    try_store: str
    """The store whose counter can redeem the example ``try_me`` card."""
    try_me: DemoCard | None = None
    try_pickup: str | None = None
    """The customer page (path and key) of a pickup ready at ``try_store``'s counter."""

    @property
    def card_count(self) -> int:
        """How many demo cards there are."""
        return sum(self.states.values())


@dataclass
class _Card:
    path: str
    row_key: str
    product: str
    face_value: int
    allowed_stores: tuple[str, ...] = ()
    expires_at: datetime | None = None
    number: str = ""
    code: str = field(default="", repr=False)
    pickup_id: str = ""
    store: str = ""

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "row_key": self.row_key,
            "product": self.product,
            "face_value": self.face_value,
            "currency": "CNY",
        }
        if self.allowed_stores:
            spec["allowed_stores"] = list(self.allowed_stores)
        if self.expires_at is not None:
            spec["expires_at"] = self.expires_at
        return spec


def _store_actor(store_id: str) -> Actor:
    return Actor("store", f"demo-{store_id}", store_id=store_id)


def seed(
    ledger: Ledger,
    engine: Engine,
    *,
    cards: int = DEFAULT_CARDS,
    clock: DemoClock | None = None,
    rng_seed: int = 2026,
) -> DemoSummary:
    """Seed the demo merchant unless its stores exist; either way, say what the demo holds.

    ``ledger`` must run on ``engine``. When ``clock`` is the ledger's clock and the database
    holds no card yet, the story is spread over the last :data:`DAYS` days; otherwise it
    all happens now (a log's times never go backwards).
    """
    if cards < len(PATHS):
        raise ValueError(f"the demo needs at least {len(PATHS)} cards, one per path")
    existing = {store["id"] for store in ledger.list_stores(SYSTEM)}
    if STORES[0][0] in existing:
        return _describe(engine, seeded=False)
    rng = random.Random(rng_seed)
    now = utc_now()
    backdate = clock is not None and _card_count(engine) == 0
    start = now - timedelta(days=DAYS) if backdate else now
    for store_id, name, region in STORES:
        if store_id not in existing:
            ledger.create_store(HQ, store_id, name, region, **STORE_PLACES.get(store_id, {}))
    plan = _plan(rng, cards, now)
    for at, action, batch in _timeline(rng, plan, start, now, backdate):
        if clock is not None:
            clock.at = at
        _run(ledger, action, batch, rng)
    if clock is not None:
        clock.at = None
    _value_cards(ledger, rng)
    try_pickup = _pickup_to_try(ledger, STORES[1][0])
    ledger.expire_due(SYSTEM)
    _anomalies(ledger, plan, rng)
    try_me = next(c for c in plan if c.path == "ISSUED" and not c.allowed_stores)
    summary = _describe(engine, seeded=True)
    return DemoSummary(
        seeded=True,
        stores=summary.stores,
        states=summary.states,
        examples=summary.examples,
        try_store=summary.try_store,
        try_me=DemoCard(try_me.number, "ISSUED", try_me.product, try_me.code),
        try_pickup=try_pickup,
    )


PICKUP_SKU = "LQ-53-6"
"""The demo's pickup product: a case of six bottles, stocked in every store."""
PICKUP_STOCK = {"BJ01": 48, "SH01": 30, "GZ01": 4, "CD01": 24}
"""Cases on hand per store; Guangzhou's few trip the dashboard's low-stock warning."""


def _pickup_to_try(ledger: Ledger, store_id: str) -> str:
    """Stock the pickup product in every store, and leave one pickup of it ready at
    ``store_id``: the visitor opens its customer page (the rotating code) and completes
    it at that store's counter with the code and a bottle serial. Returns the page's
    path with its key."""
    ledger.create_product(
        HQ, PICKUP_SKU, "岭泉 53度 500ml 六瓶整箱", "Lingquan 53% 500ml, case of 6", "pickup"
    )
    for store, on_hand in PICKUP_STOCK.items():
        ledger.set_stock(HQ, store, PICKUP_SKU, on_hand=on_hand, low_water=6)
    [card] = ledger.issue_cards(HQ, VALUE_BATCH, [{"sku": PICKUP_SKU}], active=True)["cards"]
    pickup = ledger.request_pickup(
        HQ, card["card_number"], "store", card["redemption_code"], store_id
    )
    ledger.pickup_ready(_store_actor(store_id), pickup["pickup_id"])
    return f"/customer/pickups/{pickup['pickup_id']}#{pickup['access_key']}"


def _plan(rng: random.Random, count: int, now: datetime) -> list[_Card]:
    """One card per path first (so every state appears), the rest drawn by weight."""
    paths = list(PATHS) + rng.choices(
        list(WEIGHTS), weights=list(WEIGHTS.values()), k=count - len(PATHS)
    )
    store_ids = [s[0] for s in STORES]
    plan = []
    for i, path in enumerate(paths):
        product, value = PRODUCTS[rng.randrange(len(PRODUCTS))]
        card = _Card(path, f"demo-{i:05d}", product, value)
        # A few cards are good at one store only, as regional promotions are.
        if i >= len(PATHS) and rng.random() < 0.15:
            card.allowed_stores = (rng.choice(store_ids),)
        if path == "ISSUED_SOON":
            card.expires_at = now + timedelta(days=rng.randint(3, 25), hours=rng.randint(0, 23))
        elif path != "EXPIRED":
            card.expires_at = now + timedelta(days=365) if rng.random() < 0.5 else None
        card.store = card.allowed_stores[0] if card.allowed_stores else rng.choice(store_ids)
        plan.append(card)
    return plan


def _timeline(
    rng: random.Random, plan: Sequence[_Card], start: datetime, now: datetime, backdate: bool
) -> list[tuple[datetime, str, list[_Card]]]:
    """Every command of the demo in time order: issuing per day, then each card's steps."""
    by_day: dict[int, list[_Card]] = {}
    for card in plan:
        by_day.setdefault(rng.randrange(DAYS - 2) if backdate else 0, []).append(card)
    actions: list[tuple[datetime, int, str, list[_Card]]] = []
    order = 0
    span = (now - start - timedelta(hours=1)).total_seconds()
    for day, batch in sorted(by_day.items()):
        issued_at = start + timedelta(days=day, hours=1)
        actions.append((issued_at, order, "issue", batch))
        order += 1
        for card in batch:
            if card.path == "EXPIRED":
                card.expires_at = (
                    issued_at + timedelta(days=1) if backdate else now - timedelta(days=1)
                )
            at = issued_at
            for step in PATHS[card.path]:
                room = (now - at).total_seconds()
                gap = (
                    min(rng.uniform(0.1, 0.4) * room, rng.uniform(3_600, 3 * 86_400))
                    if span > 0
                    else 0
                )
                at = at + timedelta(seconds=gap)
                actions.append((at, order, step, [card]))
                order += 1
    _burst(rng, plan, actions, now, backdate)
    actions.sort(key=lambda a: (a[0], a[1]))
    return [(at, step, batch) for at, _, step, batch in actions]


VALUE_BATCH = "VALUE-DEMO"
"""Stored-value and count cards of the demo, outside the DEMO- batches of every state."""


def _value_cards(ledger: Ledger, rng: random.Random) -> None:
    """Stored-value cards spent in part, refunded and topped up; count cards with uses
    left; stock of both, some allocated to an online channel and sold through it."""
    ledger.create_product(
        HQ,
        "SV-500",
        "岭泉储值卡 500元",
        "Lingquan card 500 CNY",
        "stored_value",
        face_value=50_000,
        currency="CNY",
    )
    ledger.create_product(
        HQ,
        "TASTE-5",
        "品鉴会五次卡",
        "Tasting 5 visits",
        "count",
        face_value=40_000,
        currency="CNY",
        units=5,
    )
    sold = ledger.issue_cards(HQ, VALUE_BATCH, [{"sku": "SV-500"}] * 6, active=True)["cards"]
    visits = ledger.issue_cards(HQ, VALUE_BATCH, [{"sku": "TASTE-5"}] * 2, active=True)["cards"]
    stock = ledger.issue_cards(HQ, f"{VALUE_BATCH}-STOCK", [{"sku": "SV-500"}] * 8)["cards"]
    ledger.create_channel(HQ, "TMALL", "天猫旗舰店 Tmall store", "online")
    ledger.allocate(HQ, "TMALL", "SV-500", 4, 47_500)
    ledger.activate_cards(HQ, numbers=[c["card_number"] for c in stock[:2]], channel_id="TMALL")
    for card in sold:
        store = _store_actor(rng.choice(STORES)[0])
        number, code = card["card_number"], card["redemption_code"]
        spent = ledger.redeem(store, number, code, amount=rng.randrange(50, 300) * 100)
        if rng.random() < 0.5:
            ledger.refund(store, number, spent["leaf_index"], spent["amount"] // 2)
        if rng.random() < 0.5:
            ledger.load(store, number, 20_000)
    for card in visits:
        ledger.redeem(_store_actor(STORES[0][0]), card["card_number"], card["redemption_code"])


def _burst(
    rng: random.Random,
    plan: Sequence[_Card],
    actions: list[tuple[datetime, int, str, list[_Card]]],
    now: datetime,
    backdate: bool,
) -> None:
    """Move enough redemptions into one minute at one store to flag a redemption burst."""
    open_cards = [c for c in plan if c.path == "REDEEMED" and not c.allowed_stores]
    if len(open_cards) < REDEMPTION_BURST:
        return
    chosen = {id(c) for c in open_cards[:REDEMPTION_BURST]}
    store = STORES[2][0]
    moment = now - timedelta(hours=20) if backdate else now
    for i, (_, order, step, batch) in enumerate(actions):
        if step == "redeem" and id(batch[0]) in chosen:
            batch[0].store = store
            actions[i] = (moment + timedelta(seconds=rng.uniform(0, 40)), order, step, batch)


def _run(ledger: Ledger, step: str, batch: list[_Card], rng: random.Random) -> None:
    if step == "issue":
        ref = f"{BATCH_PREFIX}{batch[0].row_key}"
        by_key = {card.row_key: card for card in batch}
        # Sold cards are issued active; the INACTIVE ones are stock still waiting for a sale.
        for active, suffix in ((True, ""), (False, "-stock")):
            part = [card for card in batch if (card.path != "INACTIVE") == active]
            if not part:
                continue
            result = ledger.issue_cards(
                HQ, ref + suffix, [card.spec() for card in part], active=active
            )
            for issued in result["cards"]:
                card = by_key[issued["row_key"]]
                card.number, card.code = issued["card_number"], issued["redemption_code"]
        return
    [card] = batch
    store = _store_actor(card.store)
    holder = f"demo-member-{rng.randrange(10_000, 99_999)}"
    if step == "claim":
        ledger.claim(HQ, card.number, holder)
    elif step == "transfer":
        card.code = ledger.transfer(HQ, card.number, card.code, holder)["redemption_code"]
    elif step == "request_store":
        card.pickup_id = ledger.request_pickup(
            HQ, card.number, "store", card.code, store_id=card.store
        )["pickup_id"]
    elif step == "request_delivery":
        card.pickup_id = ledger.request_pickup(
            HQ, card.number, "delivery", card.code, address_ref=f"demo-address-{card.row_key}"
        )["pickup_id"]
    elif step == "ready":
        ledger.pickup_ready(store, card.pickup_id)
    elif step == "review":
        ledger.pickup_review(HQ, card.pickup_id)
    elif step == "gift":
        ledger.offer_gift(CUSTOMER, card.number, card.code)
    elif step == "ship":
        ledger.pickup_ship(HQ, card.pickup_id, "SF Express", f"SF{rng.randrange(10**11, 10**12)}")
    elif step == "complete":
        if card.path == "PICKUP_COMPLETED":
            # The customer shows the card's code at the counter; the bottle is scanned.
            ledger.pickup_complete(
                store,
                card.pickup_id,
                credential="card_code",
                code=card.code,
                serials=[f"MT-DEMO-{rng.randrange(10**6, 10**7)}"],
            )
        else:
            ledger.pickup_complete(HQ, card.pickup_id)
    elif step == "redeem":
        ledger.redeem(store, card.number, card.code)
    elif step == "block":
        ledger.block(HQ, card.number, "reported lost by the holder", reason_code="lost")
    elif step == "void":
        ledger.void(HQ, card.number, "printing error", reason_code="issuer_error")
    else:
        raise ValueError(f"unknown demo step {step!r}")


def _refused(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except LedgerError:
        return
    raise RuntimeError("the ledger accepted what the demo meant as an anomaly")


def _anomalies(ledger: Ledger, plan: Sequence[_Card], rng: random.Random) -> None:
    """Refusals the console flags: a used card tried again, a card tried at a store it is
    not valid at, a run of wrong codes and a locked code. None of them is a log event."""
    redeemed = next(c for c in plan if c.path == "REDEEMED")
    _refused(ledger.redeem, _store_actor(STORES[1][0]), redeemed.number, redeemed.code)
    limited = next((c for c in plan if c.allowed_stores and c.path == "CLAIMED"), None)
    if limited is not None:
        elsewhere = next(s[0] for s in STORES if s[0] != limited.allowed_stores[0])
        _refused(ledger.redeem, _store_actor(elsewhere), limited.number, limited.code)
    unused = [c for c in plan if c.path == "CLAIMED" and not c.allowed_stores]
    guessed, locked = unused[0], unused[-1]
    for _ in range(3):
        _refused(ledger.redeem, _store_actor(STORES[3][0]), guessed.number, generate_code())
    if locked is not guessed:
        for _ in range(5):
            _refused(ledger.redeem, _store_actor(STORES[0][0]), locked.number, generate_code())


def present(engine: Engine) -> bool:
    """True when the database holds the demo merchant (its first store exists)."""
    with read_transaction(engine) as conn:
        found = conn.execute(sa.select(stores.c.id).where(stores.c.id == STORES[0][0]))
        return found.first() is not None


def _card_count(engine: Engine) -> int:
    with read_transaction(engine) as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(cards_table)).scalar_one()


def _describe(engine: Engine, *, seeded: bool) -> DemoSummary:
    """Cards per state among the demo batches, and one example card per state."""
    with read_transaction(engine) as conn:
        rows = conn.execute(
            sa.select(cards_table.c.number, cards_table.c.state, cards_table.c.product)
            .where(cards_table.c.batch_ref.like(f"{BATCH_PREFIX}%"))
            .order_by(cards_table.c.issued_at, cards_table.c.number)
        ).all()
    states = Counter(row.state for row in rows)
    examples: dict[str, DemoCard] = {}
    for row in rows:
        examples.setdefault(row.state, DemoCard(row.number, row.state, row.product))
    order = [state.value for state in CardState]
    return DemoSummary(
        seeded=seeded,
        stores=STORES,
        states=dict(sorted(states.items(), key=lambda item: order.index(item[0]))),
        examples=tuple(examples[s] for s in order if s in examples),
        try_store=STORES[1][0],
    )


def describe_for_people(
    summary: DemoSummary, base_url: str, hq_token: str, store_token: str
) -> str:
    """The lines ``cardtrail up --demo`` prints: where to click and how to sign in."""
    base = base_url.rstrip("/")
    head = "Demo data seeded" if summary.seeded else "Demo data already present (not seeded again)"
    lines = [
        f"{head}: {BRAND}, {len(summary.stores)} stores, {summary.card_count} cards.",
        f"  portal     {base}/",
        "  demo cards (open one and watch your browser verify it):",
    ]
    lines += [f"    {card.state:<17} {base}/c/{card.card_number}" for card in summary.examples]
    lines += [
        f"  console    {base}/console/  (sign in with a token)",
        f"    {'hq token':<24} {hq_token}",
        f"    {f'store token ({summary.try_store})':<24} {store_token}",
    ]
    if summary.try_me is not None and summary.try_me.redemption_code:
        lines.append(
            f"  try it: redeem card {summary.try_me.card_number} with code "
            f"{summary.try_me.redemption_code} at the {summary.try_store} counter"
        )
    if summary.try_pickup is not None:
        lines.append(
            f"  try a pickup: open {base}{summary.try_pickup} (the customer's rotating code), "
            f"then complete it at the {summary.try_store} counter with that code and a bottle "
            "serial such as LQ2026-000001"
        )
    return "\n".join(lines)


def seed_runtime(runtime: Runtime, cards: int = DEFAULT_CARDS) -> DemoSummary:
    """Seed the demo on a CardTrail app's database (the ``up --demo`` hook)."""
    clock = DemoClock()
    ledger = Ledger(runtime.engine, runtime.secret_key, clock=clock)
    return seed(ledger, runtime.engine, cards=cards, clock=clock)


def announce(runtime: Runtime, summary: DemoSummary, base_url: str) -> str:
    """Fresh hq and store tokens for the console, and the lines to print with them."""
    hq = create_token(runtime.engine, runtime.secret_key, "hq")
    store = create_token(runtime.engine, runtime.secret_key, "store", summary.try_store)
    return describe_for_people(summary, base_url, hq.token, store.token)
