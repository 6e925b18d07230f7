"""The tables that the ``anchoring`` package owns (SQLAlchemy Core).

Migrations live in ``ledger_service/migrations`` (one root revision per owner, e.g.
``anchoring_log``); ``tests/ledger_service/test_migrations.py`` keeps them equal to this
metadata.

The log is stored as:

* ``log_head`` — one row (``id = 1``) holding the tree size; writers lock it.
* ``log_leaves`` — each leaf's input bytes and its RFC 9162 leaf hash.
* ``log_nodes`` — the hash of every *complete* subtree of two or more leaves, keyed by
  ``(level, node_index)``: the subtree covers leaves ``[i·2^L, (i+1)·2^L)``. A complete
  subtree never changes once its last leaf exists, so rows are only ever inserted.

The card map (``docs/card-map.md``, :mod:`anchoring.cardmap_store`) is stored as:

* ``card_map_versions`` — one row per ``CARD_MAP`` leaf: the map's version (the tree size
  it covers, which is that leaf's index), its root and counts.
* ``card_map_nodes`` — every non-empty subtree of the map as of the version that last
  changed it, keyed by ``(depth, path, version)``; ``path`` is the 32-byte key prefix with
  the bits from ``depth`` on cleared. ``body`` is ``left ‖ right`` (64 bytes) for a subtree
  of two or more entries, ``key ‖ value`` (80 bytes) for a lone entry. Rows are only ever
  inserted, so the map at any version stays provable.

    >>> import sqlalchemy as sa
    >>> from anchoring.schema import metadata
    >>> engine = sa.create_engine("sqlite://")
    >>> metadata.create_all(engine)
    >>> sorted(sa.inspect(engine).get_table_names())  # doctest: +NORMALIZE_WHITESPACE
    ['anchor_transactions', 'card_map_nodes', 'card_map_versions', 'checkpoints',
     'deployments', 'log_head', 'log_leaves', 'log_nodes']
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite stores an INTEGER PRIMARY KEY as the table's rowid (one B-tree, no extra index);
# SQLite's INTEGER is 64-bit anyway.
LeafIndex = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

log_head = sa.Table(
    "log_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("tree_size", sa.BigInteger, nullable=False),
    sa.CheckConstraint("id = 1", name="log_head_single_row"),
    sa.CheckConstraint("tree_size >= 0", name="log_head_size_not_negative"),
)

log_leaves = sa.Table(
    "log_leaves",
    metadata,
    sa.Column("leaf_index", LeafIndex, primary_key=True, autoincrement=False),
    sa.Column("leaf_input", sa.LargeBinary, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
)

log_nodes = sa.Table(
    "log_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("node_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
    # Small rows looked up by their key: clustering them on the key halves the reads.
    sqlite_with_rowid=False,
)

card_map_versions = sa.Table(
    "card_map_versions",
    metadata,
    sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("cards", sa.BigInteger, nullable=False),
    sa.Column("changed", sa.BigInteger, nullable=False),
)

card_map_nodes = sa.Table(
    "card_map_nodes",
    metadata,
    sa.Column("depth", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("path", sa.LargeBinary, primary_key=True),
    sa.Column("version", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    # A proof seeks (depth, path, newest version ≤ v) once per depth: clustered on the key.
    sqlite_with_rowid=False,
)

# --- The chain side (anchoring/checkpoints.py): where the log was anchored, and how. ---
# Chain values are 0x-hex strings (addresses 42 chars, hashes 66); roots are plain hex.

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("chain_id", sa.BigInteger, nullable=False),
    sa.Column("contract", sa.String(42), nullable=False),
    sa.Column("deployer", sa.String(42), nullable=False),
    sa.Column("tx_hash", sa.String(66), nullable=False),
    sa.Column("block_number", sa.BigInteger, nullable=False),
    sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
    # A retired deployment's contract is gone (the chain was reset) or was replaced. The
    # same address may come back: a reset chain gives the same deployer the same nonce.
    sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("retired_reason", sa.String(200), nullable=True),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("deployment_id", sa.Integer, sa.ForeignKey("deployments.id"), nullable=False),
    sa.Column("tree_size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.String(64), nullable=False),
    sa.Column("tx_hash", sa.String(66), nullable=False),
    sa.Column("block_number", sa.BigInteger, nullable=False),
    sa.Column("block_hash", sa.String(66), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    # Orphaned: its block left the canonical chain (reorg) or the chain was reset.
    sa.Column("orphaned_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("orphan_reason", sa.String(200), nullable=True),
    sa.CheckConstraint("status IN ('anchored', 'orphaned')", name="checkpoints_status"),
    sa.CheckConstraint("tree_size > 0", name="checkpoints_tree_size_positive"),
)
# Never two valid checkpoints for one size; an orphaned one may be anchored again.
sa.Index(
    "checkpoints_one_anchored_per_size",
    checkpoints.c.deployment_id,
    checkpoints.c.tree_size,
    unique=True,
    sqlite_where=checkpoints.c.status == "anchored",
    postgresql_where=checkpoints.c.status == "anchored",
)

anchor_transactions = sa.Table(
    "anchor_transactions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("deployment_id", sa.Integer, sa.ForeignKey("deployments.id"), nullable=False),
    sa.Column("tree_size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.String(64), nullable=False),
    sa.Column("nonce", sa.BigInteger, nullable=False),
    sa.Column("tx_hash", sa.String(66), nullable=False, unique=True),
    sa.Column("max_fee_per_gas", sa.BigInteger, nullable=True),
    sa.Column("max_priority_fee_per_gas", sa.BigInteger, nullable=True),
    sa.Column("gas_price", sa.BigInteger, nullable=True),
    # Written as 'pending' before the transaction is sent, so a crash in between leaves a
    # record to reconcile; then 'mined', 'failed' (reverted), 'replaced' (a higher-fee
    # resend with the same nonce) or 'dropped' (its nonce was used by another transaction).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(
        "status IN ('pending', 'mined', 'failed', 'replaced', 'dropped')",
        name="anchor_transactions_status",
    ),
)
sa.Index("anchor_transactions_by_status", anchor_transactions.c.status)
