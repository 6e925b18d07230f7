"""Cards issued before money and activation carry over: active pickup cards, nothing lost.

``data/ledger_b52d46e.sql`` is a SQLite ledger made by CardTrail at commit b52d46e (its
migrations up to ledger_core_0003): one store, four cards issued with the old code (one
claimed with a store pickup requested, one redeemed, one unused and valid at the store
only, one blocked), two card map leaves and an anchored checkpoint. Its server secret
was ``b"k" * 32``; the dump's second line names the unused card and its code.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from anchoring import checkpoints
from anchoring.bundle import verify_bundle
from anchoring.cardmap_store import CardMapStore
from anchoring.db import create_engine, read_transaction
from anchoring.log import MerkleLog
from anchoring.schema import log_leaves
from ledger_service import audit, db, errors
from ledger_service.actor import Actor
from ledger_service.schema import cards, events
from ledger_service.service import Ledger, read_card_history
from portal.bundles import build_bundle

DUMP = Path(__file__).parent / "data" / "ledger_b52d46e.sql"
OLD_SECRET = b"k" * 32
HQ = Actor("hq", "tok_hq")


@pytest.fixture
def old_ledger(tmp_path):
    """The old database, loaded as the old code left it, and an engine on it."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(DUMP.read_text(encoding="utf-8"))
    engine = create_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def _unused_card() -> tuple[str, str]:
    words = DUMP.read_text(encoding="utf-8").splitlines()[1].split()
    return words[3], words[5]


def _snapshot(engine) -> tuple[list, list, list]:
    old_card_columns = [c for c in cards.c if c.name not in _NEW_CARD_COLUMNS]
    old_event_columns = [c for c in events.c if c.name not in ("amount", "balance")]
    with read_transaction(engine) as conn:
        return (
            conn.execute(sa.select(*old_card_columns).order_by(cards.c.number)).all(),
            conn.execute(sa.select(*old_event_columns).order_by(events.c.leaf_index)).all(),
            conn.execute(sa.select(log_leaves).order_by(log_leaves.c.leaf_index)).all(),
        )


_NEW_CARD_COLUMNS = ("kind", "sku", "balance", "channel_id", "sale_price", "activated_at")


def test_the_dump_is_a_ledger_before_money(old_ledger):
    with old_ledger.connect() as conn:
        heads = set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
        columns = {c["name"] for c in sa.inspect(conn).get_columns("cards")}
    assert "ledger_core_0003" in heads
    assert not columns & set(_NEW_CARD_COLUMNS)


def test_old_cards_become_active_pickup_cards_with_nothing_lost(old_ledger):
    before = _snapshot(old_ledger)
    db.upgrade(old_ledger)
    assert _snapshot(old_ledger) == before
    with read_transaction(old_ledger) as conn:
        upgraded = conn.execute(sa.select(cards).order_by(cards.c.number)).all()
        values = conn.execute(sa.select(events.c.amount, events.c.balance)).all()
    assert len(upgraded) == 4
    assert {(c.kind, c.sku, c.balance) for c in upgraded} == {("pickup", None, None)}
    assert sorted(c.state for c in upgraded) == [
        "BLOCKED",
        "ISSUED",
        "PICKUP_REQUESTED",
        "REDEEMED",
    ]
    assert set(values) == {(None, None)}
    # The old unused card was usable, and still is: it is not stock waiting for a sale.
    number, code = _unused_card()
    ledger = Ledger(old_ledger, OLD_SECRET)
    assert ledger.redeem(HQ, number, code, store_id="S1")["state"] == "REDEEMED"
    blocked = next(c.number for c in upgraded if c.state == "BLOCKED")
    with pytest.raises(errors.CardBlocked):
        ledger.redeem(HQ, blocked, "0000-0000-0000")


def test_every_old_bundle_still_verifies_and_the_audit_passes(old_ledger):
    db.upgrade(old_ledger)
    with read_transaction(old_ledger) as conn:
        assert audit.audit_events(conn)[0] is None
        anchored = checkpoints.latest_anchored(conn)
        assert anchored is not None
        numbers = list(conn.execute(sa.select(cards.c.number)).scalars())
        bundles = [
            build_bundle(
                read_card_history(conn, number), MerkleLog(conn), anchored, CardMapStore(conn)
            )
            for number in numbers
        ]
    root = anchored.checkpoint.root
    size = anchored.checkpoint.tree_size
    for number, bundle in zip(numbers, bundles, strict=True):
        assert bundle["events"], "the old events are under the anchored checkpoint"
        report = verify_bundle(
            bundle,
            lambda tree_size: root if tree_size == size else bytes(32),
            chain_id=anchored.chain_id,
            card_number=number,
        )
        assert report.ok, (number, [str(c) for c in report.failures])
