"""``cardtrail audit``: a single altered byte anywhere in the events table is found, and
checkpoints are held to the stored tree and to the chain."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
import rfc8785
import sqlalchemy as sa
from click.testing import CliRunner

from anchoring import checkpoints, merkle
from anchoring.cardmap_store import append_card_map
from anchoring.db import write_transaction
from anchoring.errors import ChainUnavailable
from anchoring.log import MerkleLog
from anchoring.schema import card_map_versions, log_leaves, log_nodes
from cardtrail.cli import main
from ledger_service import audit, db
from ledger_service.actor import Actor
from ledger_service.schema import cards, events
from ledger_service.service import Ledger

HQ = Actor("hq", "tok_hq_audit")
SECRET = b"k" * 32


def _clock():
    ticks = itertools.count()
    start = datetime(2026, 11, 24, 6, 17, 10, 123000, tzinfo=UTC)
    return lambda: start + timedelta(seconds=next(ticks))


class Chain:
    """A stand-in for the contract: answers rootAt from what the test says was anchored."""

    def __init__(self):
        self.roots: dict[int, bytes] = {}
        self.down = False

    def reader(self, contract: str):
        return self

    def root_at(self, size: int) -> bytes:
        if self.down:
            raise ChainUnavailable("eth_call: connection refused")
        return self.roots.get(size, bytes(32))


@pytest.fixture
def ledger_db(engine):
    """A database with two stores, three cards and their lives, anchored once."""
    db.upgrade(engine)
    ledger = Ledger(engine, SECRET, clock=_clock())
    ledger.create_store(HQ, "S1", "Shanghai", "east")
    ledger.create_store(HQ, "S2", "Beijing", "north")
    issued = ledger.issue_cards(
        HQ, "B1", [{"product": "tea"}, {"product": "wine"}, {"product": "cake"}], active=True
    )["cards"]
    (a, code_a), (_, _), (c, code_c) = [(x["card_number"], x["redemption_code"]) for x in issued]
    with write_transaction(engine) as conn:
        append_card_map(conn, datetime(2026, 11, 24, 7, tzinfo=UTC))  # as the worker does
    ledger.claim(HQ, a, "holder-a")
    ledger.redeem(HQ, c, code_c, store_id="S2")
    pickup = ledger.request_pickup(HQ, a, "store", code_a, store_id="S1")
    ledger.pickup_ready(HQ, pickup["pickup_id"])
    chain = Chain()
    with write_transaction(engine) as conn:
        deployment = checkpoints.record_deployment(
            conn, 31337, "0x" + "5f" * 20, "0x" + "de" * 20, "0x" + "01" * 32, 1
        )
        append_card_map(conn, datetime(2026, 11, 24, 8, tzinfo=UTC))
        head = MerkleLog(conn).checkpoint()
        checkpoints.record_checkpoint(conn, deployment, head, "0x" + "02" * 32, 3, "0x" + "03" * 32)
    chain.roots[head.tree_size] = head.root
    return engine, chain


def _run(engine, chain) -> audit.AuditResult:
    return audit.run_audit(engine, chain.reader, show_progress=False)


def _failed(result: audit.AuditResult) -> dict[str, str]:
    return {name: str(found) for name, found in result.findings if found is not None}


def test_intact_database_passes_every_pass(ledger_db):
    engine, chain = ledger_db
    result = _run(engine, chain)
    assert result.ok and [n for n, _ in result.findings] == [
        "leaves and nodes",
        "events table",
        "cards table",
        "checkpoints",
    ]


def _map_leaves(engine) -> list[tuple[int, dict]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(log_leaves.c.leaf_index, log_leaves.c.leaf_input)).all()
    found = [(i, json.loads(data)) for i, data in rows]
    return [(i, leaf) for i, leaf in found if leaf.get("type") == "CARD_MAP"]


def test_card_map_leaves_have_no_events_row_and_are_recomputed(ledger_db):
    engine, _ = ledger_db
    assert [i for i, _ in _map_leaves(engine)] == [3, 8]
    with engine.connect() as conn:
        assert audit.audit_events(conn)[0] is None


@pytest.mark.parametrize(
    ("member", "value"),
    [("map_root", "ab" * 32), ("cards", 4), ("changed", 3), ("tree_size", 2)],
)
def test_a_card_map_leaf_that_differs_from_the_recomputed_map_is_found(ledger_db, member, value):
    engine, _ = ledger_db
    index, leaf = _map_leaves(engine)[-1]
    with write_transaction(engine) as conn:
        conn.execute(
            sa.update(log_leaves)
            .where(log_leaves.c.leaf_index == index)
            .values(leaf_input=rfc8785.dumps({**leaf, member: value}))
        )
    with engine.connect() as conn:
        found = audit.audit_events(conn)[0]
    assert found is not None and (found.check, found.where) == ("card map", f"leaf {index}")
    assert member in found.detail


def test_a_stored_card_map_version_with_another_root_is_found(ledger_db):
    engine, _ = ledger_db
    with write_transaction(engine) as conn:
        conn.execute(sa.update(card_map_versions).values(root=b"\x01" * 32))
    with engine.connect() as conn:
        found = audit.audit_events(conn)[0]
    assert str(found) == "card map: leaf 3: the stored card map of this version has another root"


def _alter(value):
    """The smallest change of a stored value: one character, one unit, one microsecond."""
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, int):
        return value + 1
    return value[:-1] + ("A" if value[-1] != "A" else "B")


# Every column of the events table: a byte changed there must show.
@pytest.mark.parametrize("column", [c.name for c in events.columns])
def test_an_altered_byte_in_any_events_column_is_found(ledger_db, column):
    engine, chain = ledger_db
    with engine.begin() as conn:
        # The newest event of card A: its seq can grow without colliding.
        row = conn.execute(sa.select(events).order_by(events.c.leaf_index.desc())).first()
        value = getattr(row, column)
        if column == "card_number":  # a foreign key: point it at another real card
            new = conn.execute(sa.select(cards.c.number).where(cards.c.number != value)).scalar()
        elif column == "store_id":
            new = "S2" if value == "S1" else "S1"
        elif column == "leaf_index":
            new = value + 100
        elif value is None:  # amount, balance: a value where the event moved none
            new = 1
        else:
            new = _alter(value)
        conn.execute(
            events.update().where(events.c.leaf_index == row.leaf_index).values({column: new})
        )
    failed = _failed(_run(engine, chain))
    assert list(failed) == ["events table"], failed


def test_an_altered_byte_in_a_stored_leaf_is_found(ledger_db):
    engine, chain = ledger_db
    with engine.begin() as conn:
        data = conn.execute(
            sa.select(log_leaves.c.leaf_input).where(log_leaves.c.leaf_index == 2)
        ).scalar_one()
        data = bytes(data).replace(b'"cake"', b'"cakf"')
        conn.execute(
            log_leaves.update().where(log_leaves.c.leaf_index == 2).values(leaf_input=data)
        )
    failed = _failed(_run(engine, chain))
    assert failed["leaves and nodes"] == (
        "tree: leaf 2: stored leaf hash is not the hash of the stored leaf input"
    )


def test_an_altered_node_is_found(ledger_db):
    engine, chain = ledger_db
    with engine.begin() as conn:
        node = conn.execute(sa.select(log_nodes).where(log_nodes.c.level == 1)).first()
        conn.execute(
            log_nodes.update()
            .where(log_nodes.c.level == 1, log_nodes.c.node_index == node.node_index)
            .values(hash=bytes(32))
        )
    assert "node at level 1" in _failed(_run(engine, chain))["leaves and nodes"]


def test_cards_table_must_match_the_last_event(ledger_db):
    engine, chain = ledger_db
    with engine.begin() as conn:
        number = conn.execute(sa.select(cards.c.number).limit(1)).scalar()
        conn.execute(
            cards.update().where(cards.c.number == number).values(last_event_hash="0" * 64)
        )
    assert list(_failed(_run(engine, chain))) == ["cards table"]


def test_checkpoint_that_the_chain_does_not_hold_is_a_divergence(ledger_db):
    engine, chain = ledger_db
    size = next(iter(chain.roots))
    chain.roots[size] = b"\x01" * 32
    assert "the contract holds 0101" in _failed(_run(engine, chain))["checkpoints"]
    chain.roots.clear()
    assert "never anchored" in _failed(_run(engine, chain))["checkpoints"]


def test_unreachable_chain_makes_the_audit_incomplete(ledger_db):
    engine, chain = ledger_db
    chain.down = True
    result = _run(engine, chain)
    assert not result.ok and "connection refused" in result.chain_error


def test_command_exit_codes(ledger_db, monkeypatch, tmp_path):
    engine, chain = ledger_db
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    # Through the real command group (which loads ledger_service.audit_cli).
    monkeypatch.setattr("ledger_service.audit_cli.AnchorReader", lambda url, contract: chain)
    args = ["audit", "--data-dir", str(tmp_path / "data"), "--rpc", "http://x"]
    ok = CliRunner().invoke(main, args)
    assert ok.exit_code == 0, ok.output
    assert "audit passed" in ok.output
    with engine.begin() as conn:
        conn.execute(events.update().where(events.c.leaf_index == 0).values(type="VOIDED"))
    bad = CliRunner().invoke(main, args)
    assert bad.exit_code == 1
    assert "FAIL  events table: events: leaf_index 0: column type" in bad.output
    chain.down = True
    with engine.begin() as conn:
        conn.execute(events.update().where(events.c.leaf_index == 0).values(type="ISSUED"))
    down = CliRunner().invoke(main, args)
    assert down.exit_code == 2 and "could not ask the chain" in down.output


# --- the passes in several processes ----------------------------------------------------


def _rewrite_leaf(conn, index: int, **changes) -> None:
    """Store another event at leaf ``index``, its leaf hash recomputed (the nodes are not)."""
    data = conn.execute(
        sa.select(log_leaves.c.leaf_input).where(log_leaves.c.leaf_index == index)
    ).scalar_one()
    new = rfc8785.dumps({**json.loads(data), **changes})
    conn.execute(
        log_leaves.update()
        .where(log_leaves.c.leaf_index == index)
        .values(leaf_input=new, leaf_hash=merkle.hash_leaf(new))
    )


def _break_chain(conn) -> None:
    # Card A's last event claims to follow another event: its row and leaf agree.
    row = conn.execute(sa.select(events).order_by(events.c.leaf_index.desc())).first()
    conn.execute(events.update().where(events.c.leaf_index == row.leaf_index).values(seq=9))
    _rewrite_leaf(conn, row.leaf_index, seq=9)


def _row_gone(conn) -> None:
    conn.execute(events.delete().where(events.c.leaf_index == 5))


def _type_changed(conn) -> None:
    conn.execute(events.update().where(events.c.leaf_index == 6).values(type="VOIDED"))


def _leaf_changed(conn) -> None:
    _rewrite_leaf(conn, 1, nonce="ff" * 16)


def _node_zeroed(conn) -> None:
    conn.execute(log_nodes.update().where(log_nodes.c.level == 2).values(hash=bytes(32)))


def _card_reset(conn) -> None:
    conn.execute(cards.update().values(seq=0))


def _map_root_changed(conn) -> None:
    conn.execute(sa.update(card_map_versions).values(root=b"\x01" * 32))


def _float_in_leaf(conn) -> None:
    # Canonical JCS, and orjson writes it back byte for byte: only the float shows.
    _rewrite_leaf(conn, 1, data={"product": "wine", "price": 1.5})


def _spaced_leaf(conn) -> None:
    data = conn.execute(
        sa.select(log_leaves.c.leaf_input).where(log_leaves.c.leaf_index == 1)
    ).scalar_one()
    new = bytes(data).replace(b'"seq":', b'"seq": ')
    conn.execute(
        log_leaves.update()
        .where(log_leaves.c.leaf_index == 1)
        .values(leaf_input=new, leaf_hash=merkle.hash_leaf(new))
    )


def _card_without_events(conn) -> None:
    row = conn.execute(sa.select(cards).limit(1)).mappings().one()
    conn.execute(cards.insert().values({**row, "number": "9" * 16, "import_key": None}))


def _card_one_event_back(conn) -> None:
    # Card A's row names its event before the last, seq and hash alike: that event
    # matches the row, and only the last one, past the row's seq, shows it.
    number, seq = conn.execute(
        sa.select(events.c.card_number, events.c.seq).order_by(events.c.leaf_index.desc())
    ).first()
    index = conn.execute(
        sa.select(events.c.leaf_index).where(
            events.c.card_number == number, events.c.seq == seq - 1
        )
    ).scalar_one()
    data = conn.execute(
        sa.select(log_leaves.c.leaf_input).where(log_leaves.c.leaf_index == index)
    ).scalar_one()
    conn.execute(
        cards.update()
        .where(cards.c.number == number)
        .values(seq=seq - 1, last_event_hash=hashlib.sha256(bytes(data)).hexdigest())
    )


@pytest.mark.parametrize(
    "tamper",
    [
        None,
        _break_chain,
        _row_gone,
        _type_changed,
        _leaf_changed,
        _node_zeroed,
        _card_reset,
        _map_root_changed,
        _float_in_leaf,
        _spaced_leaf,
        _card_without_events,
        _card_one_event_back,
    ],
)
def test_several_processes_find_what_one_finds(ledger_db, tamper):
    engine, chain = ledger_db
    if tamper is not None:
        with engine.begin() as conn:
            tamper(conn)

    def findings(**how) -> list[str]:
        result = audit.run_audit(engine, chain.reader, show_progress=False, **how)
        return [f"{name}: {found}" for name, found in result.findings]

    serial = findings()
    # Chunks of two and four leaves: cards' events, their links and both card map
    # leaves fall in different chunks, checked by different processes.
    assert findings(jobs=1, chunk=2) == serial
    assert findings(jobs=3, chunk=2) == serial
    assert findings(jobs=2, chunk=4) == serial
    if tamper is not None:
        assert any(not line.endswith(": None") for line in serial), serial


def test_a_tampered_event_is_found_by_several_processes(ledger_db):
    engine, chain = ledger_db
    with engine.begin() as conn:
        _type_changed(conn)
    result = audit.run_audit(engine, chain.reader, show_progress=False, jobs=2, chunk=2)
    assert _failed(result) == {
        "events table": "events: leaf_index 6: column type does not match the logged event"
    }


def test_the_chunk_is_a_power_of_two(ledger_db):
    engine, chain = ledger_db
    with pytest.raises(ValueError, match="power of two"):
        audit.run_audit(engine, chain.reader, show_progress=False, chunk=3)


def test_command_runs_with_jobs(ledger_db, monkeypatch, tmp_path):
    engine, chain = ledger_db
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setattr("ledger_service.audit_cli.AnchorReader", lambda url, contract: chain)
    args = ["audit", "--data-dir", str(tmp_path / "data"), "--rpc", "http://x", "--jobs", "2"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0 and "audit passed" in done.output, done.output
    assert CliRunner().invoke(main, [*args[:-1], "0"]).exit_code == 2  # a usage error


@pytest.mark.parametrize("tamper", [_float_in_leaf, _spaced_leaf])
def test_a_leaf_that_is_not_canonical_json_in_the_domain_is_found(ledger_db, tamper):
    engine, chain = ledger_db
    with engine.begin() as conn:
        tamper(conn)
    for jobs in (1, 2):
        found = audit.run_audit(engine, chain.reader, show_progress=False, jobs=jobs, chunk=2)
        assert _failed(found)["events table"] == (
            "events: leaf 1: leaf input is not canonical JSON"
        )


@pytest.mark.parametrize("tamper", [_card_without_events, _card_one_event_back])
def test_a_card_row_its_events_do_not_end_at_is_found(ledger_db, tamper):
    engine, chain = ledger_db
    with engine.begin() as conn:
        tamper(conn)
    for jobs in (1, 2):
        found = audit.run_audit(engine, chain.reader, show_progress=False, jobs=jobs, chunk=2)
        assert list(_failed(found)) == ["cards table"], _failed(found)
