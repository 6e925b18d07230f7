"""The Alembic migrations build exactly the tables that the code's metadata declares."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import anchoring.schema
import ledger_service.schema
from anchoring.db import read_transaction, write_transaction
from anchoring.log import MerkleLog
from ledger_service import db

METADATA = [anchoring.schema.metadata, ledger_service.schema.metadata]


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, METADATA)


def _heads(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


@pytest.fixture
def migrated(engine: sa.Engine) -> sa.Engine:
    """The test's engine after ``ledger_service.db.upgrade``."""
    db.upgrade(engine)
    return engine


def test_migrations_create_exactly_the_declared_tables(migrated):
    assert _differences(migrated) == []
    declared = {name for metadata in METADATA for name in metadata.tables}
    assert declared <= set(sa.inspect(migrated).get_table_names())


def test_every_owner_root_is_applied(migrated):
    scripts = ScriptDirectory.from_config(db.alembic_config(migrated))
    heads = scripts.get_heads()
    assert _heads(migrated) == set(heads)
    labels = {label for h in heads for label in scripts.get_revision(h).branch_labels}
    assert "anchoring_log" in labels


def test_upgrade_twice_changes_nothing(migrated):
    heads = _heads(migrated)
    db.upgrade(migrated)
    assert _heads(migrated) == heads
    assert _differences(migrated) == []


def test_a_migrated_database_takes_log_appends(migrated):
    with write_transaction(migrated) as conn:
        log = MerkleLog(conn)
        assert log.lock_head() == 0
        assert log.append([b"a", b"b", b"c"]) == 0
    with read_transaction(migrated) as conn:
        log = MerkleLog(conn)
        assert log.size() == 3
        assert log.audit() is None


def test_the_comparison_notices_a_missing_table_and_a_changed_type(migrated):
    # The check above must be able to fail: declare one table more and one type otherwise.
    changed = sa.MetaData()
    for metadata in METADATA:
        for table in metadata.tables.values():
            table.to_metadata(changed)
    changed.tables["log_head"].c.tree_size.type = sa.String(20)
    sa.Table("not_migrated", changed, sa.Column("id", sa.Integer, primary_key=True))
    with migrated.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        found = compare_metadata(context, changed)
    tables = [diff[1].name for diff in found if isinstance(diff, tuple)]
    columns = [diff[0][:4] for diff in found if isinstance(diff, list)]
    assert tables == ["not_migrated"]
    assert [(op, table, column) for op, _, table, column in columns] == [
        ("modify_type", "log_head", "tree_size")
    ]
