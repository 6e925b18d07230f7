"""ETags and an in-process cache for a card's public answers: page, card JSON and bundle.

A card's answers change only when the card gets an event or a newer checkpoint is
anchored, a device key is registered or a contract deployed, or the card's date passes:
:class:`CardHead` names everything they are built from, read in one small statement
before anything is built.
The ETag is a digest of that head, of the kind of answer and of whatever else shapes it
(the language, the page's templates and settings), so a new event or checkpoint gives
every answer a new tag: the cache is keyed on the tag and never needs invalidating, and
nothing stale can be served from it.

    >>> cache = LookupCache(2)
    >>> cache.put("a", b"1"); cache.put("b", b"2"); cache.get("a")
    b'1'
    >>> cache.put("c", b"3"); cache.get("b") is None, len(cache)
    (True, 2)
    >>> cache_control(0), cache_control(30)
    ('public, no-cache', 'public, max-age=30, must-revalidate')
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.engine import Dialect, Engine

from anchoring import checkpoints
from anchoring.schema import deployments
from anchoring.types import AnchoredCheckpoint, Checkpoint
from ledger_service.business_days import utc
from ledger_service.errors import CardNotFound
from ledger_service.schema import cards, store_keys
from portal.bundles import CardPage, CardProofs

CACHE_VERSION = "1"
"""Part of every tag: bump it when an answer's bytes change without its inputs changing."""
DEFAULT_SIZE = 2048
"""Answers kept per worker process (``PUBLIC_LOOKUP_CACHE_SIZE``): a card page or bundle
of a card with a few events is 4-10 KiB, so about 20 MiB at most."""
_EXTENSION = "cardtrail.lookup_cache"


@dataclass(frozen=True)
class CardHead:
    """Everything a card's public answers depend on besides code and settings: the card's
    last event (``seq``, ``last_event_hash``), the newest anchored checkpoint, and the
    registered device keys and deployments (the page lists them)."""

    number: str
    seq: int
    last_event_hash: str
    device_keys: int
    deployment: int | None
    checkpoint: AnchoredCheckpoint | None
    expires_at: datetime | None = None
    """The card's date: once it passes, the page says expired before any event does."""

    def past_date(self, now: datetime) -> bool:
        """Whether the card's date has passed at ``now`` (its answers then change)."""
        return self.expires_at is not None and utc(self.expires_at) <= now

    def built(self, page: CardPage | CardProofs) -> bool:
        """Whether ``page`` shows this head: the same last event and checkpoint (an event
        or checkpoint recorded between reading the head and building the page shows)."""
        events = page.history.events
        last_seq = events[-1].event["seq"] if events else None
        return last_seq == self.seq and page.checkpoint == self.checkpoint


# Device keys and deployments are only ever added (a revoked key keeps its row), so their
# counts change whenever the keys and deployments a page lists do. The newest anchored
# checkpoint comes in the same statement: one snapshot, and one statement's overhead on
# every lookup, a cache hit and a 304 included.
_LATEST = checkpoints.latest_anchored_subquery("latest")
_CARD_HEAD = (
    sa.select(
        cards.c.seq,
        cards.c.last_event_hash,
        cards.c.expires_at,
        sa.select(sa.func.count()).select_from(store_keys).scalar_subquery(),
        sa.select(sa.func.max(deployments.c.id)).scalar_subquery(),
        _LATEST.c.tree_size,
        _LATEST.c.root,
        _LATEST.c.chain_id,
        _LATEST.c.contract,
        _LATEST.c.tx_hash,
        _LATEST.c.block_number,
        _LATEST.c.block_hash,
    )
    .select_from(cards.outerjoin(_LATEST, sa.true()))
    .where(cards.c.number == sa.bindparam("number"))
)


@dataclass(frozen=True)
class _DriverStatement:
    """:data:`_CARD_HEAD` compiled for one dialect: its SQL and its parameters for a number."""

    sql: str
    fixed: dict[str, Any]
    order: tuple[str, ...] | None
    """The parameters' order for a positional driver (SQLite); None: by name (psycopg)."""

    def parameters(self, number: str) -> Any:
        """The driver's parameters of the statement for the card ``number``."""
        named = {**self.fixed, "number": number}
        return named if self.order is None else tuple(named[key] for key in self.order)


_compiled: dict[tuple[str, str], _DriverStatement] = {}


def _driver_statement(dialect: Dialect) -> _DriverStatement:
    key = (dialect.name, dialect.paramstyle)
    found = _compiled.get(key)
    if found is None:
        compiled = _CARD_HEAD.compile(dialect=dialect)
        order = tuple(compiled.positiontup) if compiled.positiontup else None
        found = _compiled[key] = _DriverStatement(
            str(compiled), dict(compiled.construct_params({"number": ""})), order
        )
    return found


def _stored_time(value: datetime | str | None) -> datetime | None:
    # SQLite keeps a time as text (SQLAlchemy's format, which fromisoformat reads).
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def read_card_head(engine: Engine, number: str) -> CardHead:
    """The :class:`CardHead` of the card ``number`` (normalised), in one statement.

    Raises CardNotFound if there is none.
    """
    statement = _driver_statement(engine.dialect)
    # One indexed read, straight on the driver: SQLAlchemy's connection and result
    # machinery cost three times the read itself on every lookup, a cache hit and a 304
    # included. One statement is one snapshot, without a transaction around it.
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(statement.sql, statement.parameters(number))
            row = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()
    if row is None:
        raise CardNotFound("no card has this number")
    seq, last_hash, expires_at, keys, deployment, tree_size, root, *anchor = row
    chain_id, contract, tx_hash, block_number, block_hash = anchor
    checkpoint = (
        None
        if tree_size is None
        else AnchoredCheckpoint(
            Checkpoint(tree_size, bytes.fromhex(root)),
            chain_id,
            contract,
            tx_hash,
            block_number,
            block_hash,
        )
    )
    return CardHead(number, seq, last_hash, keys, deployment, checkpoint, _stored_time(expires_at))


class LookupCache:
    """A bounded, thread-safe LRU map from an answer's ETag to its bytes."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a lookup cache holds at least one answer")
        self.size = size
        self._answers: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, etag: str) -> bytes | None:
        """The answer tagged ``etag``, now the most recently used, or None."""
        with self._lock:
            body = self._answers.get(etag)
            if body is not None:
                self._answers.move_to_end(etag)
            return body

    def put(self, etag: str, body: bytes) -> None:
        """Keep ``body`` under ``etag``, dropping the least recently used beyond the size."""
        with self._lock:
            self._answers[etag] = body
            self._answers.move_to_end(etag)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._answers)


def app_cache(app: Flask) -> LookupCache:
    """The app's cache (each worker process has its own), made on first use."""
    cache = app.extensions.get(_EXTENSION)
    if cache is None:
        cache = LookupCache(int(app.config.get("PUBLIC_LOOKUP_CACHE_SIZE", DEFAULT_SIZE)))
        app.extensions[_EXTENSION] = cache
    assert isinstance(cache, LookupCache)
    return cache


def etag(kind: str, head: CardHead, *variant: str) -> str:
    """The strong ETag (without quotes) of the ``kind`` answer built from ``head``.

    ``variant`` is whatever else decides the bytes (language, templates, settings).
    """
    checkpoint = head.checkpoint.to_json() if head.checkpoint else None
    parts = [
        CACHE_VERSION,
        kind,
        head.number,
        head.seq,
        head.last_event_hash,
        head.device_keys,
        head.deployment,
        checkpoint,
        *variant,
    ]
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def cache_control(max_age: int) -> str:
    """The Cache-Control of a card's answers.

    0 (the default): any cache may keep the answer but must ask again every time, which
    costs a 304 when nothing changed, so a just-redeemed card never looks unredeemed.
    More: caches may serve it unasked for ``max_age`` seconds, hiding a new event that long.
    """
    if max_age <= 0:
        return "public, no-cache"
    return f"public, max-age={max_age}, must-revalidate"


def request_language() -> str:
    """The language the request's answer is in: Flask-Babel's choice when the app has
    Flask-Babel, else "" (one language)."""
    if "babel" not in current_app.extensions:
        return ""
    from flask_babel import get_locale

    return str(get_locale())


def templates_digest(app: Flask, prefix: str) -> str:
    """A digest of the sources of the app's templates under ``prefix``, read once per app:
    a page rendered by new templates must not match a tag given out for the old ones."""
    key = f"{_EXTENSION}.templates.{prefix}"
    digest = app.extensions.get(key)
    if digest is None:
        env = app.jinja_env
        assert env.loader is not None
        sha = hashlib.sha256()
        for name in sorted(n for n in env.list_templates() if n.startswith(prefix)):
            sha.update(name.encode() + b"\0" + env.loader.get_source(env, name)[0].encode())
        digest = sha.hexdigest()
        app.extensions[key] = digest
    return str(digest)
