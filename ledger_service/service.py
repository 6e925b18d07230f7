"""The card ledger: one method per command, one database transaction per accepted command.

Every command runs the same way: take the log head (which serialises writers), read the
card, let :func:`ledger_service.domain.lifecycle.decide` accept or refuse, then update the
card, add its ``events`` row and append exactly one leaf to the log — all in one
transaction. A refusal raises before anything is written. What a refusal should still
leave behind (a wrong-code failure, an anomaly for the console) is written afterwards in
its own small transaction — or, for a command run ``within`` a caller's
:meth:`Ledger.unit_of_work`, after rolling back to a savepoint in that same transaction —
and never in the log.

    >>> import tempfile
    >>> from anchoring.db import create_engine
    >>> from ledger_service import db
    >>> from ledger_service.actor import Actor
    >>> engine = create_engine(f"sqlite:///{tempfile.mkdtemp()}/doc.db")
    >>> db.upgrade(engine)
    >>> ledger, hq = Ledger(engine, bytes(32)), Actor("hq", "tok_doc")
    >>> issued = ledger.issue_cards(hq, "B1", [{"product": "Tea 250g"}])["cards"][0]
    >>> ledger.redeem(hq, issued["card_number"], issued["redemption_code"])["state"]
    'REDEEMED'
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from anchoring.db import is_postgres, read_transaction, write_transaction
from anchoring.log import MerkleLog
from anchoring.schema import log_leaves
from ledger_service import devices, errors
from ledger_service.actor import SYSTEM, Actor
from ledger_service.domain import codes, lockout
from ledger_service.domain.cards import CardSpec, parse_card_spec
from ledger_service.domain.cards import store_id as check_store_id
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.lifecycle import (
    PICKUP_MODES,
    UNUSED,
    Block,
    Card,
    CardState,
    Claim,
    Command,
    EventDraft,
    EventType,
    Expire,
    PickupComplete,
    PickupReady,
    PickupShip,
    Redeem,
    RequestPickup,
    Store,
    Transfer,
    Unblock,
    Void,
    decide,
)
from ledger_service.domain.numbers import (
    CardNumberError,
    format_card_number,
    generate_card_number,
    normalize_card_number,
)
from ledger_service.events import (
    GENESIS,
    build_event,
    card_commitment,
    event_hash,
    format_timestamp,
    leaf_input,
    new_nonce,
    utc_now,
)
from ledger_service.schema import anomalies, cards, code_failures, events, pickups, stores

MAX_BATCH = 10_000
"""Most cards one ``issue_cards`` call (one transaction) may issue."""
EXPIRY_BATCH = 1_000
REDEMPTION_BURST = 20
"""Redemptions at one store within :data:`BURST_WINDOW` that the console is told about."""
BURST_WINDOW = timedelta(minutes=1)
_IN_CHUNK = 1_000
_HOLDER_CONTEXT = b"cardtrail/holder/v1\x00"

# Refusals of a card's use that the console's anomaly view lists.
_ANOMALY_KINDS: dict[type[errors.LedgerError], str] = {
    errors.CardAlreadyUsed: "used_card_attempt",
    errors.StoreNotAllowed: "other_store_attempt",
    errors.CardBlocked: "blocked_card_attempt",
    errors.CardVoided: "voided_card_attempt",
    errors.CardNotFound: "unknown_card",
}
ANOMALY_KINDS = frozenset(_ANOMALY_KINDS.values()) | {
    "code_locked",
    "redemption_burst",
    "offline_conflict",
}

_WRITERS = ("hq", "system")
_READERS = ("hq", "store", "auditor", "system")


# Built once: the hot commands' statements (SET columns of the card update come from
# the parameters, so one statement serves every command).
_select_card = sa.select(cards).where(cards.c.number == sa.bindparam("for_number"))
_select_card_for_update = _select_card.with_for_update()
_select_store = sa.select(stores).where(stores.c.id == sa.bindparam("for_store"))
_update_card = sa.update(cards).where(
    cards.c.number == sa.bindparam("for_number"), cards.c.seq == sa.bindparam("at_seq")
)

# Counting stops one past the burst level: only reaching it exactly matters, and a busy
# store's minute would otherwise be counted in full on every redemption.
_recent_redemptions = sa.select(sa.func.count()).select_from(
    sa.select(sa.literal(1))
    .select_from(events)
    .where(
        events.c.type == EventType.REDEEMED.value,
        events.c.occurred_at > sa.bindparam("since"),
        events.c.store_id == sa.bindparam("at_store"),
    )
    .limit(REDEMPTION_BURST + 1)
    .subquery()
)


@dataclass(frozen=True)
class HistoryEvent:
    """One event of a card: its leaf index, the exact event object and its leaf bytes."""

    leaf_index: int
    event: dict[str, Any]
    leaf_input: bytes


@dataclass(frozen=True)
class CardHistory:
    """What a card number's holder may see and verify: salt, state and every event."""

    card_number: str
    card_salt: bytes
    state: str
    events: tuple[HistoryEvent, ...]


# The card, its events and their leaves in one round-trip: public pages read it per request.
_CARD_AND_LEAVES = (
    sa.select(cards.c.salt, cards.c.state, events.c.leaf_index, log_leaves.c.leaf_input)
    .select_from(
        cards.outerjoin(events, events.c.card_number == cards.c.number).outerjoin(
            log_leaves, log_leaves.c.leaf_index == events.c.leaf_index
        )
    )
    .where(cards.c.number == sa.bindparam("number"))
    .order_by(events.c.seq)
)


def read_card_history(conn: Connection, number: str) -> CardHistory:
    """The history of the card ``number`` (normalised), read on the caller's transaction.

    Raises CardNotFound when there is no such card, and the log's own error when an event's
    leaf is missing from it.
    """
    rows = conn.execute(_CARD_AND_LEAVES, {"number": number}).all()
    if not rows:
        raise errors.CardNotFound("no card has this number")
    history = []
    for row in rows:
        if row.leaf_index is None:
            continue  # the outer join's row of a card without events
        if row.leaf_input is None:
            MerkleLog(conn).leaf_input(row.leaf_index)  # raises the log's own error
        leaf = bytes(row.leaf_input)
        history.append(HistoryEvent(row.leaf_index, json.loads(leaf), leaf))
    return CardHistory(number, bytes(rows[0].salt), rows[0].state, tuple(history))


def _utc(moment: datetime | None) -> datetime | None:
    """Datetimes read back from either database, as aware UTC (SQLite drops the zone)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _require_role(actor: Actor, roles: Iterable[str]) -> None:
    if actor.role not in roles:
        raise errors.Forbidden(f"the {actor.role} role may not do this")


def _number(text: object) -> str:
    try:
        return normalize_card_number(text)  # type: ignore[arg-type]
    except CardNumberError as exc:
        raise errors.InvalidCardNumber(str(exc)) from None


def _valid(check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a domain check and turn its ValueError into VALIDATION_FAILED."""
    try:
        return check(*args, **kwargs)
    except ValueError as exc:
        raise errors.ValidationFailed(str(exc)) from None


def _card(row: Row) -> Card:
    return Card(
        state=CardState(row.state),
        expires_at=_utc(row.expires_at),
        allowed_stores=frozenset(json.loads(row.allowed_stores)),
        allowed_regions=frozenset(json.loads(row.allowed_regions)),
        blocked_from=CardState(row.blocked_from) if row.blocked_from else None,
    )


def _lock_state(row: Row) -> lockout.LockState:
    return lockout.LockState(row.code_failures, row.code_locks, _utc(row.code_locked_until))


def _lock_values(state: lockout.LockState) -> dict[str, Any]:
    return {
        "code_failures": state.failures,
        "code_locks": state.locks,
        "code_locked_until": state.locked_until,
    }


def _store_json(row: Row) -> dict[str, str]:
    return {"id": row.id, "name": row.name, "region": row.region}


def _bulk_insert(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows with the same keys, at the speed bulk issuance needs.

    PostgreSQL: COPY, several times faster than a per-row executemany. SQLite: the
    driver's executemany, with datetimes stored exactly as SQLAlchemy stores them (its own
    bind processor, applied once per distinct value), which spares SQLAlchemy's per-row
    bookkeeping. Every other column type here goes to sqlite3 as it is.
    """
    columns = list(rows[0])
    names = ", ".join(columns)
    if is_postgres(conn):
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[column] for column in columns])
        return
    values = [[row[column] for column in columns] for row in rows]
    for position, column in enumerate(columns):
        kind = table.c[column].type
        if isinstance(kind, sa.DateTime):
            store = kind.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            stored: dict[datetime, Any] = {}
            for value in values:
                moment = value[position]
                if moment is not None:
                    if moment not in stored:
                        stored[moment] = store(moment)
                    value[position] = stored[moment]
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
    conn.exec_driver_sql(sql, [tuple(value) for value in values])


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ledger:
    """The card ledger on one database. Thread-safe: every call uses its own connection."""

    def __init__(
        self,
        engine: Engine,
        secret_key: bytes,
        clock: Callable[[], datetime] = utc_now,
        *,
        require_signatures: bool = False,
    ) -> None:
        if len(secret_key) < 32:
            raise ValueError("the server secret must be at least 32 bytes")
        self._engine = engine
        self._secret = secret_key
        self._clock = clock
        # CARDTRAIL_REQUIRE_STORE_SIGNATURES: store tokens must sign their commands.
        self._require_signatures = require_signatures

    def __repr__(self) -> str:
        return f"Ledger({self._engine.url.render_as_string(hide_password=True)!r})"

    def _now(self) -> datetime:
        # Events carry milliseconds; keeping more in the tables would make every stored
        # time differ from the logged one and the audit rightly flag it.
        moment = self._clock().astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def _holder_tag(self, holder_ref: str) -> str:
        # A keyed tag: the log can show that the holder changed without naming anyone.
        mac = hmac.new(self._secret, _HOLDER_CONTEXT + holder_ref.encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    # --- stores ----------------------------------------------------------------------

    def create_store(self, actor: Actor, store_id: str, name: str, region: str) -> dict[str, str]:
        """Add a store of the chain (headquarters only)."""
        _require_role(actor, _WRITERS)
        row = {
            "id": _valid(check_store_id, store_id),
            "name": _valid(check_text, name, "name"),
            "region": _valid(check_text, region, "region", limit=64),
            "created_at": self._now(),
        }
        try:
            with write_transaction(self._engine) as conn:
                if self._store_row(conn, row["id"]) is not None:
                    raise errors.StoreExists(f"store {row['id']} already exists")
                conn.execute(sa.insert(stores), row)
        except sa.exc.IntegrityError:
            raise errors.StoreExists(f"store {row['id']} already exists") from None
        return {"id": row["id"], "name": row["name"], "region": row["region"]}

    def list_stores(self, actor: Actor) -> list[dict[str, str]]:
        """Every store, by id."""
        _require_role(actor, _READERS)
        with read_transaction(self._engine) as conn:
            rows = conn.execute(sa.select(stores).order_by(stores.c.id)).all()
        return [_store_json(row) for row in rows]

    @staticmethod
    def _store_row(conn: Connection, store_id: str) -> Row | None:
        return conn.execute(_select_store, {"for_store": store_id}).first()

    def _store(self, conn: Connection, store_id: str) -> Store:
        row = self._store_row(conn, store_id)
        if row is None:
            raise errors.StoreNotFound(f"store {store_id} does not exist")
        return Store(row.id, row.name, row.region)

    # --- issuing ---------------------------------------------------------------------

    def issue_cards(
        self, actor: Actor, batch_ref: str, cards_in: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Issue a batch of cards in one transaction: one ISSUED event per card.

        Each card is a dict of :data:`ledger_service.domain.cards.FIELDS`. A card with a
        ``row_key`` is issued at most once per ``batch_ref``: repeating it returns it under
        ``"skipped"`` instead. The redemption codes in the answer are never shown again.
        """
        _require_role(actor, _WRITERS)
        batch_ref = _valid(check_text, batch_ref, "batch_ref")
        specs = self.check_cards(cards_in)
        return self._issue(actor, batch_ref, specs)

    @staticmethod
    def check_cards(cards_in: Sequence[Mapping[str, Any]]) -> list[CardSpec]:
        """Parse a batch of card dicts, or raise VALIDATION_FAILED listing every bad one."""
        if not isinstance(cards_in, Sequence) or isinstance(cards_in, str | bytes):
            raise errors.ValidationFailed("cards must be a list")
        if not 1 <= len(cards_in) <= MAX_BATCH:
            raise errors.ValidationFailed(
                f"a batch holds 1 to {MAX_BATCH} cards, got {len(cards_in)}"
            )
        specs, problems = [], []
        for index, raw in enumerate(cards_in):
            try:
                specs.append(parse_card_spec(raw))
            except (TypeError, ValueError) as exc:
                problems.append({"index": index, "detail": str(exc)})
        if problems:
            raise errors.ValidationFailed(
                f"{len(problems)} of {len(cards_in)} cards are invalid", errors=problems
            )
        keys = [spec.row_key for spec in specs if spec.row_key is not None]
        if len(keys) != len(set(keys)):
            raise errors.ValidationFailed("row_key values repeat within the batch")
        return specs

    def _issue(self, actor: Actor, batch_ref: str, specs: Sequence[CardSpec]) -> dict[str, Any]:
        now = self._now()
        with write_transaction(self._engine) as conn:
            log = MerkleLog(conn)
            size = log.lock_head()
            self._check_stores_exist(conn, {s for spec in specs for s in spec.allowed_stores})
            done = self._already_imported(conn, batch_ref, specs)
            fresh = [spec for spec in specs if spec.row_key not in done]
            numbers = self._new_numbers(conn, len(fresh))
            card_rows, entries, issued = [], [], []
            for spec, number in zip(fresh, numbers, strict=True):
                code = codes.generate_code()
                salt = secrets.token_bytes(16)
                draft = EventDraft(
                    EventType.ISSUED, CardState.ISSUED, now, data=self._issued_data(spec, batch_ref)
                )
                entries.append((number, salt, 0, GENESIS, draft))
                card_rows.append(self._card_row(spec, number, salt, code, batch_ref, now))
                issued.append({"card_number": number, "redemption_code": code})
            if entries:
                logged, event_rows = self._log_events(conn, log, size, actor, now, entries)
                for row, card, (leaf_index, last_hash) in zip(
                    card_rows, issued, logged, strict=True
                ):
                    row["last_event_hash"] = last_hash
                    card["leaf_index"] = leaf_index
                # Cards first: each events row refers to its card.
                _bulk_insert(conn, cards, card_rows)
                _bulk_insert(conn, events, event_rows)
        for spec, card in zip(fresh, issued, strict=True):
            if spec.row_key is not None:
                card["row_key"] = spec.row_key
        skipped = [{"row_key": key, "card_number": done[key]} for key in sorted(done)]
        return {"batch_ref": batch_ref, "cards": issued, "skipped": skipped}

    def _issued_data(self, spec: CardSpec, batch_ref: str) -> dict[str, Any]:
        return {
            "product": spec.product,
            "face_value": spec.face_value,
            "currency": spec.currency,
            "expires_at": _stamp(spec.expires_at),
            "allowed_stores": list(spec.allowed_stores),
            "allowed_regions": list(spec.allowed_regions),
            "batch_ref": batch_ref,
            "holder": self._holder_tag(spec.holder_ref) if spec.holder_ref else None,
        }

    def _card_row(
        self, spec: CardSpec, number: str, salt: bytes, code: str, batch_ref: str, now: datetime
    ) -> dict[str, Any]:
        return {
            "number": number,
            "salt": salt,
            "code_hash": codes.code_hash(self._secret, code),
            "state": CardState.ISSUED.value,
            "blocked_from": None,
            "product": spec.product,
            "face_value": spec.face_value,
            "currency": spec.currency,
            "allowed_stores": _json_list(spec.allowed_stores),
            "allowed_regions": _json_list(spec.allowed_regions),
            "expires_at": spec.expires_at,
            "holder_ref": spec.holder_ref,
            "seq": 0,
            "batch_ref": batch_ref,
            "import_key": _import_key(batch_ref, spec.row_key),
            "issued_at": now,
            "updated_at": now,
            "code_failures": 0,
            "code_locks": 0,
            "code_locked_until": None,
        }

    @staticmethod
    def _check_stores_exist(conn: Connection, wanted: set[str]) -> None:
        found: set[str] = set()
        for chunk in _chunks(sorted(wanted)):
            found.update(
                conn.execute(sa.select(stores.c.id).where(stores.c.id.in_(chunk))).scalars()
            )
        missing = sorted(wanted - found)
        if missing:
            raise errors.StoreNotFound(
                f"unknown store(s) in allowed_stores: {', '.join(missing[:10])}"
            )

    @staticmethod
    def _already_imported(
        conn: Connection, batch_ref: str, specs: Sequence[CardSpec]
    ) -> dict[str, str]:
        """Row keys of this batch that were issued before, with their card numbers."""
        by_key = {_import_key(batch_ref, s.row_key): s.row_key for s in specs if s.row_key}
        done: dict[str, str] = {}
        for chunk in _chunks(list(by_key)):
            query = sa.select(cards.c.import_key, cards.c.number).where(
                cards.c.import_key.in_(chunk)
            )
            done.update((by_key[key], number) for key, number in conn.execute(query))
        return done

    @staticmethod
    def _new_numbers(conn: Connection, count: int) -> list[str]:
        """``count`` fresh card numbers that no card has yet."""
        numbers: set[str] = set()
        while len(numbers) < count:
            # A collision among ~79 random bits is a freak event, but it must not become a
            # duplicate key error halfway through a million-card import.
            wanted = {generate_card_number() for _ in range(count - len(numbers))} - numbers
            for chunk in _chunks(sorted(wanted)):
                taken = conn.execute(sa.select(cards.c.number).where(cards.c.number.in_(chunk)))
                wanted -= set(taken.scalars())
            numbers |= wanted
        return list(numbers)

    # --- the log ---------------------------------------------------------------------

    def _log_events(
        self,
        conn: Connection,
        log: MerkleLog,
        size: int,
        actor: Actor,
        now: datetime,
        entries: Sequence[tuple[str, bytes, int, str, EventDraft]],
    ) -> tuple[list[tuple[int, str]], list[dict[str, Any]]]:
        """Append one event per ``(number, salt, seq, prev_event_hash, draft)`` to the log.

        Returns ``(leaf_index, event hash)`` per entry, and the ``events`` rows for the
        caller to insert once the cards rows exist.
        """
        leaves, rows, logged = [], [], []
        who = actor.to_event()
        for offset, (number, salt, seq, prev_hash, draft) in enumerate(entries):
            index = size + offset
            event = build_event(
                leaf_index=index,
                card=card_commitment(salt, number),
                seq=seq,
                type=draft.type,
                occurred_at=draft.occurred_at,
                recorded_at=now,
                actor=who,
                store_id=draft.store_id,
                data=draft.data,
                prev_event_hash=prev_hash,
                nonce=new_nonce(),
            )
            leaf = leaf_input(event)
            leaves.append(leaf)
            logged.append((index, event_hash(leaf)))
            rows.append(
                {
                    "leaf_index": index,
                    "card_number": number,
                    "seq": seq,
                    "type": draft.type.value,
                    "occurred_at": draft.occurred_at,
                    "recorded_at": now,
                    "store_id": draft.store_id,
                    "actor_role": actor.role,
                    "actor_id": actor.id,
                }
            )
        first = log.append(leaves)
        if first != size:
            raise RuntimeError(f"log grew from {size} to {first} under the head lock")
        return logged, rows

    # --- single-card commands ------------------------------------------------------------

    @contextmanager
    def unit_of_work(self) -> Iterator[Connection]:
        """One write transaction that a caller shares with a command (``within=``).

        The API keeps a request's idempotency record in it, so that the reservation, the
        command's writes and the stored answer commit together — once. A command run
        ``within`` it writes its event under a savepoint: a refusal rolls back to it and
        the refusal's traces (wrong-code counts, anomalies) go into the same transaction.
        """
        with write_transaction(self._engine) as conn:
            yield conn

    @contextmanager
    def _writing(self, within: Connection | None) -> Iterator[Connection]:
        """The caller's unit of work, or a write transaction of our own."""
        if within is not None:
            yield within
        else:
            with write_transaction(self._engine) as conn:
                yield conn

    @contextmanager
    def _command(
        self, number: str, within: Connection | None = None
    ) -> Iterator[tuple[Connection, MerkleLog, int, Row]]:
        """A write transaction holding the log head, with the card's row read under it.

        ``within`` a unit of work it is a savepoint, so that a refusal leaves nothing
        of the command (and nothing in the log) behind.
        """
        if within is None:
            with write_transaction(self._engine) as conn:
                log = MerkleLog(conn)
                size = log.lock_head()
                yield conn, log, size, self._card_or_404(conn, number)
        else:
            with within.begin_nested():
                log = MerkleLog(within)
                size = log.lock_head()
                yield within, log, size, self._card_or_404(within, number)

    @staticmethod
    def _card_or_404(conn: Connection, number: str, *, lock: bool = False) -> Row:
        query = _select_card_for_update if lock else _select_card
        row = conn.execute(query, {"for_number": number}).first()
        if row is None:
            raise errors.CardNotFound("no card has this number")
        return row

    def _apply(
        self,
        conn: Connection,
        log: MerkleLog,
        size: int,
        row: Row,
        draft: EventDraft,
        actor: Actor,
        now: datetime,
        **card_values: Any,
    ) -> int:
        """Log the card's next event and move the card on; returns the event's leaf index."""
        entry = (row.number, bytes(row.salt), row.seq + 1, row.last_event_hash, draft)
        [(leaf_index, last_hash)], event_rows = self._log_events(
            conn, log, size, actor, now, [entry]
        )
        conn.execute(sa.insert(events), event_rows)
        updated = conn.execute(
            _update_card,
            {
                "for_number": row.number,
                "at_seq": row.seq,
                "state": draft.state.value,
                "blocked_from": draft.blocked_from.value if draft.blocked_from else None,
                "seq": row.seq + 1,
                "last_event_hash": last_hash,
                "updated_at": now,
                **card_values,
            },
        )
        if updated.rowcount != 1:
            raise RuntimeError(f"card changed under the head lock (seq {row.seq})")
        return leaf_index

    def _check_code(self, row: Row, code: object, now: datetime) -> None:
        """Refuse a locked code (CODE_LOCKED) or a wrong one (INVALID_CODE)."""
        left = lockout.locked_for(_lock_state(row), now)
        if left is not None:
            raise errors.CodeLocked(
                f"too many wrong codes: the code is locked for {_minutes(left)}",
                retry_after=_seconds(left),
            )
        if not codes.code_matches(self._secret, code, bytes(row.code_hash)):  # type: ignore[arg-type]
            raise errors.InvalidCode("wrong redemption code")

    def _simple(
        self,
        actor: Actor,
        number: str,
        command: Command,
        within: Connection | None,
        **card_values: Any,
    ) -> dict[str, Any]:
        now = self._now()
        with self._command(number, within) as (conn, log, size, row):
            draft = decide(_card(row), command, now)
            leaf_index = self._apply(conn, log, size, row, draft, actor, now, **card_values)
        return {"card_number": number, "state": draft.state.value, "leaf_index": leaf_index}

    def claim(
        self, actor: Actor, number: str, holder_ref: str, *, within: Connection | None = None
    ) -> dict[str, Any]:
        """Register the card's holder (ISSUED → CLAIMED)."""
        _require_role(actor, _WRITERS)
        number = _number(number)
        holder = _valid(check_text, holder_ref, "holder_ref")
        return self._simple(
            actor, number, Claim(self._holder_tag(holder)), within, holder_ref=holder
        )

    def transfer(
        self,
        actor: Actor,
        number: str,
        redemption_code: str,
        to_holder_ref: str,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Give the card to a new holder. The old code stops working; the answer carries
        the new holder's code, shown this once."""
        _require_role(actor, _WRITERS)
        number = _number(number)
        holder = _valid(check_text, to_holder_ref, "to_holder_ref")
        new_code = codes.generate_code()
        now = self._now()
        with (
            self._watch(actor, "transfer", number, None, within=within),
            self._command(number, within) as (conn, log, size, row),
        ):
            draft = decide(_card(row), Transfer(self._holder_tag(holder)), now)
            self._check_code(row, redemption_code, now)
            leaf_index = self._apply(
                conn,
                log,
                size,
                row,
                draft,
                actor,
                now,
                holder_ref=holder,
                code_hash=codes.code_hash(self._secret, new_code),
                **_lock_values(lockout.record_success(_lock_state(row))),
            )
        return {
            "card_number": number,
            "state": draft.state.value,
            "leaf_index": leaf_index,
            "redemption_code": new_code,
        }

    def redeem(
        self,
        actor: Actor,
        number: str,
        redemption_code: str,
        store_id: str | None = None,
        signature: devices.DeviceSignature | Mapping[str, Any] | None = None,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Use the card up at a store. A store token redeems at its own store; headquarters
        names the store, or none for a redemption outside any store. ``signature``: a
        store device's over the command (see :mod:`ledger_service.devices`). ``within``:
        a :meth:`unit_of_work` to write in instead of transactions of its own."""
        _require_role(actor, ("hq", "store"))
        number = _number(number)
        now = self._now()
        signing_store = actor.store_id if actor.role == "store" else store_id
        signed = self._signed(actor, signature, number, "redeem", signing_store, "", now)
        with self._watch(actor, "redeem", number, store_id or actor.store_id, signed, within):
            at = self._acting_store(actor, store_id)
            with self._command(number, within) as (conn, log, size, row):
                self._fresh_signature(conn, signed, at)
                store = self._store(conn, at) if at else None
                draft = decide(_card(row), Redeem(store), now)
                self._check_code(row, redemption_code, now)
                draft = devices.signed_draft(draft, signed) if signed else draft
                leaf_index = self._apply(
                    conn,
                    log,
                    size,
                    row,
                    draft,
                    actor,
                    now,
                    **_lock_values(lockout.record_success(_lock_state(row))),
                )
                self._record_signature(
                    conn, signed, number, "redeem", at, "", now, leaf_index, draft.state.value
                )
                if at:
                    self._note_burst(conn, actor, at, now)
        return {"card_number": number, "state": draft.state.value, "leaf_index": leaf_index}

    # --- device signatures -------------------------------------------------------------

    def _signed(
        self,
        actor: Actor,
        signature: devices.DeviceSignature | Mapping[str, Any] | None,
        number: str,
        action: str,
        store_id: str | None,
        pickup_id: str,
        now: datetime,
    ) -> devices.DeviceSignature | None:
        """Check a device signature's shape, time and cryptography; it must be made for the
        current deployment (read in a transaction of its own, the only database read)."""
        if signature is None:
            if self._require_signatures and actor.role == "store":
                raise errors.SignatureRequired(
                    "this deployment requires store commands signed by a device key"
                )
            return None
        signed = devices.parse_signature(signature)
        if store_id is None:
            raise errors.SignatureInvalid("a signed command must name the store")
        devices.check_window(signed.signed_time, now)
        command = devices.StoreCommand(
            number, action, store_id, pickup_id, signed.signed_at, signed.client_id
        )
        return devices.verify(command, signed, devices.current_domain(self._engine))

    @staticmethod
    def _fresh_signature(
        conn: Connection, signed: devices.DeviceSignature | None, store_id: str | None
    ) -> None:
        """Under the head lock: the signer is a live key of the store, the client id is new."""
        if signed is not None and store_id is not None:
            devices.check_key(conn, signed.signer, store_id)
            devices.check_fresh(conn, signed)

    @staticmethod
    def _record_signature(
        conn: Connection,
        signed: devices.DeviceSignature | None,
        number: str,
        action: str,
        store_id: str | None,
        pickup_id: str,
        now: datetime,
        leaf_index: int,
        state: str,
    ) -> None:
        if signed is None or store_id is None:
            return
        command = devices.StoreCommand(
            number, action, store_id, pickup_id, signed.signed_at, signed.client_id
        )
        devices.record_use(
            conn, signed, command, now, card_number=number, leaf_index=leaf_index, state=state
        )

    @staticmethod
    def _acting_store(actor: Actor, store_id: str | None) -> str | None:
        if actor.role == "store":
            if store_id is not None and store_id != actor.store_id:
                raise errors.StoreNotAllowed(f"this token acts only for store {actor.store_id}")
            return actor.store_id
        return None if store_id is None else _valid(check_store_id, store_id)

    def block(
        self, actor: Actor, number: str, reason: str = "", *, within: Connection | None = None
    ) -> dict[str, Any]:
        """Hold the card (e.g. reported stolen) until it is unblocked."""
        _require_role(actor, _WRITERS)
        return self._simple(actor, _number(number), Block(_reason(reason)), within)

    def unblock(
        self, actor: Actor, number: str, reason: str = "", *, within: Connection | None = None
    ) -> dict[str, Any]:
        """Release a blocked card into the state it was blocked in."""
        _require_role(actor, _WRITERS)
        return self._simple(actor, _number(number), Unblock(_reason(reason)), within)

    def void(
        self, actor: Actor, number: str, reason: str = "", *, within: Connection | None = None
    ) -> dict[str, Any]:
        """Cancel the card for good."""
        _require_role(actor, _WRITERS)
        return self._simple(actor, _number(number), Void(_reason(reason)), within)

    # --- pickups ---------------------------------------------------------------------

    def request_pickup(
        self,
        actor: Actor,
        number: str,
        mode: str,
        redemption_code: str,
        store_id: str | None = None,
        address_ref: str | None = None,
    ) -> dict[str, Any]:
        """Ask for the card's goods: collected at ``store_id`` or delivered to ``address_ref``."""
        _require_role(actor, _WRITERS)
        number = _number(number)
        if mode not in PICKUP_MODES:
            raise errors.ValidationFailed(f"mode must be one of {', '.join(PICKUP_MODES)}")
        if mode == "store":
            if store_id is None or address_ref is not None:
                raise errors.ValidationFailed("a store pickup needs store_id and no address_ref")
            store_id = _valid(check_store_id, store_id)
        else:
            if store_id is not None:
                raise errors.ValidationFailed("a delivery pickup has no store_id")
            address_ref = _valid(check_text, address_ref, "address_ref")
        pickup_id = "pk_" + secrets.token_hex(8)
        now = self._now()
        with (
            self._watch(actor, "request_pickup", number, store_id),
            self._command(number) as (conn, log, size, row),
        ):
            store = self._store(conn, store_id) if store_id else None
            draft = decide(_card(row), RequestPickup(pickup_id, mode, store), now)  # type: ignore[arg-type]
            self._check_code(row, redemption_code, now)
            leaf_index = self._apply(
                conn,
                log,
                size,
                row,
                draft,
                actor,
                now,
                **_lock_values(lockout.record_success(_lock_state(row))),
            )
            conn.execute(
                sa.insert(pickups),
                {
                    "id": pickup_id,
                    "card_number": number,
                    "mode": mode,
                    "store_id": store_id,
                    "address_ref": address_ref,
                    "state": draft.state.value,
                    "requested_at": now,
                    "updated_at": now,
                },
            )
        return {
            "pickup_id": pickup_id,
            "card_number": number,
            "state": draft.state.value,
            "leaf_index": leaf_index,
        }

    def pickup_ready(
        self,
        actor: Actor,
        pickup_id: str,
        signature: devices.DeviceSignature | Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The pickup store has the goods ready (a store token: its own pickups only)."""
        return self._pickup_step(actor, pickup_id, PickupReady, ("hq", "store"), signature)

    def pickup_ship(self, actor: Actor, pickup_id: str) -> dict[str, Any]:
        """The goods of a delivery pickup were shipped (headquarters)."""
        return self._pickup_step(actor, pickup_id, PickupShip, _WRITERS)

    def pickup_complete(
        self,
        actor: Actor,
        pickup_id: str,
        signature: devices.DeviceSignature | Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The goods were collected or delivered (a store token: its own pickups only)."""
        return self._pickup_step(actor, pickup_id, PickupComplete, ("hq", "store"), signature)

    def _pickup_step(
        self,
        actor: Actor,
        pickup_id: str,
        step: type,
        roles: Sequence[str],
        signature: devices.DeviceSignature | Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        _require_role(actor, roles)
        now = self._now()
        # A pickup's card, mode and store never change, so they are safe to read unlocked.
        with read_transaction(self._engine) as conn:
            pickup = conn.execute(sa.select(pickups).where(pickups.c.id == pickup_id)).first()
        if pickup is None:
            raise errors.PickupNotFound(f"no pickup {str(pickup_id)[:40]!r}")
        action = "pickup_ready" if step is PickupReady else "pickup_complete"
        signed = None
        if step is not PickupShip:
            signed = self._signed(
                actor, signature, pickup.card_number, action, pickup.store_id, pickup.id, now
            )
        with self._watch(
            actor, step.__name__, pickup.card_number, actor.store_id or pickup.store_id, signed
        ):
            if actor.role == "store" and pickup.store_id != actor.store_id:
                raise errors.StoreNotAllowed(f"this pickup is not at store {actor.store_id}")
            with self._command(pickup.card_number) as (conn, log, size, row):
                self._fresh_signature(conn, signed, pickup.store_id)
                store = self._store(conn, pickup.store_id) if pickup.store_id else None
                draft = decide(_card(row), step(pickup.id, pickup.mode, store), now)
                draft = devices.signed_draft(draft, signed) if signed else draft
                leaf_index = self._apply(conn, log, size, row, draft, actor, now)
                self._record_signature(
                    conn,
                    signed,
                    pickup.card_number,
                    action,
                    pickup.store_id,
                    pickup.id,
                    now,
                    leaf_index,
                    draft.state.value,
                )
                conn.execute(
                    sa.update(pickups)
                    .where(pickups.c.id == pickup.id)
                    .values(state=draft.state.value, updated_at=now)
                )
        return {
            "pickup_id": pickup.id,
            "card_number": pickup.card_number,
            "state": draft.state.value,
            "leaf_index": leaf_index,
        }

    # --- time ------------------------------------------------------------------------

    def expire_due(self, actor: Actor = SYSTEM) -> int:
        """Write EXPIRED for every unused card past its date; returns how many."""
        _require_role(actor, _WRITERS)
        unused = [state.value for state in UNUSED]
        total = 0
        while True:
            now = self._now()
            due = sa.and_(
                cards.c.expires_at <= now,
                sa.or_(
                    cards.c.state.in_(unused),
                    sa.and_(
                        cards.c.state == CardState.BLOCKED.value, cards.c.blocked_from.in_(unused)
                    ),
                ),
            )
            with write_transaction(self._engine) as conn:
                log = MerkleLog(conn)
                size = log.lock_head()
                rows = conn.execute(
                    sa.select(cards).where(due).order_by(cards.c.expires_at).limit(EXPIRY_BATCH)
                ).all()
                if rows:
                    self._expire_rows(conn, log, size, actor, now, rows)
            total += len(rows)
            if len(rows) < EXPIRY_BATCH:
                return total

    def _expire_rows(
        self,
        conn: Connection,
        log: MerkleLog,
        size: int,
        actor: Actor,
        now: datetime,
        rows: Sequence[Row],
    ) -> None:
        entries = [
            (r.number, bytes(r.salt), r.seq + 1, r.last_event_hash, decide(_card(r), Expire(), now))
            for r in rows
        ]
        logged, event_rows = self._log_events(conn, log, size, actor, now, entries)
        _bulk_insert(conn, events, event_rows)
        conn.execute(
            sa.update(cards)
            .where(cards.c.number == sa.bindparam("b_number"))
            .values(
                state=CardState.EXPIRED.value,
                blocked_from=None,
                seq=sa.bindparam("b_seq"),
                last_event_hash=sa.bindparam("b_hash"),
                updated_at=now,
            ),
            [
                {"b_number": r.number, "b_seq": r.seq + 1, "b_hash": last_hash}
                for r, (_, last_hash) in zip(rows, logged, strict=True)
            ],
        )

    # --- code lock -------------------------------------------------------------------

    def unlock_code(self, actor: Actor, number: str) -> dict[str, Any]:
        """Headquarters lifts a wrong-code lock and forgets the card's earlier locks."""
        _require_role(actor, _WRITERS)
        number = _number(number)
        with write_transaction(self._engine) as conn:
            self._card_or_404(conn, number, lock=True)
            conn.execute(
                sa.update(cards)
                .where(cards.c.number == number)
                .values(**_lock_values(lockout.LockState()), updated_at=self._now())
            )
        return {"card_number": number, "code_locked_until": None}

    # --- refusals that leave a trace -------------------------------------------------

    @contextmanager
    def _watch(
        self,
        actor: Actor,
        command: str,
        number: str,
        store_id: str | None,
        signed: devices.DeviceSignature | None = None,
        within: Connection | None = None,
    ) -> Iterator[None]:
        """Record wrong codes and suspicious refusals after the refused transaction
        (or its savepoint, ``within`` a unit of work)."""
        try:
            yield
        except errors.InvalidCode:
            raise self._wrong_code(actor, command, number, store_id, within) from None
        except errors.CodeLocked:
            self._record_failure(actor, command, number, store_id, "locked", within)
            raise
        except errors.LedgerError as exc:
            kind = next((k for cls, k in _ANOMALY_KINDS.items() if isinstance(exc, cls)), None)
            if kind is not None:
                now = self._now()
                detail = devices.anomaly_detail(exc.detail, signed)
                with self._writing(within) as conn:
                    kind = devices.anomaly_kind(kind, signed, conn, number)
                    self._anomaly(conn, kind, actor, number, store_id, detail, now)
            raise

    def _anomaly(
        self,
        conn: Connection,
        kind: str,
        actor: Actor,
        number: str | None,
        store_id: str | None,
        detail: str,
        now: datetime,
    ) -> None:
        conn.execute(
            sa.insert(anomalies),
            {
                "kind": kind,
                "card_number": number,
                "store_id": store_id,
                "at": now,
                "actor_role": actor.role,
                "actor_id": actor.id,
                "detail": detail[:500],
            },
        )

    def _record_failure(
        self,
        actor: Actor,
        command: str,
        number: str,
        store_id: str | None,
        outcome: str,
        within: Connection | None = None,
    ) -> None:
        with self._writing(within) as conn:
            self._failure_row(conn, actor, command, number, store_id, outcome, self._now())

    @staticmethod
    def _failure_row(
        conn: Connection,
        actor: Actor,
        command: str,
        number: str,
        store_id: str | None,
        outcome: str,
        now: datetime,
    ) -> None:
        conn.execute(
            sa.insert(code_failures),
            {
                "card_number": number,
                "at": now,
                "command": command,
                "outcome": outcome,
                "actor_role": actor.role,
                "actor_id": actor.id,
                "store_id": store_id,
            },
        )

    def _wrong_code(
        self,
        actor: Actor,
        command: str,
        number: str,
        store_id: str | None,
        within: Connection | None = None,
    ) -> errors.InvalidCode:
        """Count a wrong code against the card; the error to raise says what is left."""
        now = self._now()
        with self._writing(within) as conn:
            # The row lock keeps concurrent failures from losing counts on PostgreSQL.
            row = self._card_or_404(conn, number, lock=True)
            before = _lock_state(row)
            after = lockout.record_failure(before, now)
            conn.execute(
                sa.update(cards).where(cards.c.number == number).values(**_lock_values(after))
            )
            self._failure_row(conn, actor, command, number, store_id, "wrong", now)
            if after.locks > before.locks:
                left = lockout.locked_for(after, now)
                detail = (
                    f"{lockout.MAX_FAILURES} wrong codes in a row: code locked for {_minutes(left)}"
                )
                self._anomaly(conn, "code_locked", actor, number, store_id, detail, now)
                return errors.InvalidCode(
                    f"wrong redemption code; {detail}", retry_after=_seconds(left)
                )
        return errors.InvalidCode(
            "wrong redemption code", attempts_left=lockout.MAX_FAILURES - after.failures
        )

    def _note_burst(self, conn: Connection, actor: Actor, store_id: str, now: datetime) -> None:
        """Flag a store whose redemptions in the last minute just reached the burst level."""
        recent = conn.execute(
            _recent_redemptions, {"at_store": store_id, "since": now - BURST_WINDOW}
        ).scalar_one()
        if recent == REDEMPTION_BURST:
            detail = f"{recent} redemptions within {int(BURST_WINDOW.total_seconds())} s"
            self._anomaly(conn, "redemption_burst", actor, None, store_id, detail, now)

    # --- reading ---------------------------------------------------------------------

    def get_card(self, actor: Actor, number: str) -> dict[str, Any]:
        """The merchant's view of a card: its fields, state, lock, pickups and events."""
        _require_role(actor, _READERS)
        number = _number(number)
        with read_transaction(self._engine) as conn:
            row = self._card_or_404(conn, number)
            history = read_card_history(conn, number).events
            pickup_rows = conn.execute(
                sa.select(pickups)
                .where(pickups.c.card_number == number)
                .order_by(pickups.c.requested_at)
            ).all()
        if actor.role == "store":
            # Store staff see only their own store's pickups: another store's, and the
            # delivery addresses, are none of their business.
            pickup_rows = [p for p in pickup_rows if p.store_id == actor.store_id]
        locked = lockout.locked_for(_lock_state(row), self._now())
        return {
            "card_number": number,
            "display_number": format_card_number(number),
            "state": row.state,
            "product": row.product,
            "face_value": row.face_value,
            "currency": row.currency,
            "allowed_stores": json.loads(row.allowed_stores),
            "allowed_regions": json.loads(row.allowed_regions),
            "expires_at": _stamp(_utc(row.expires_at)),
            "holder_ref": row.holder_ref,
            "batch_ref": row.batch_ref,
            "issued_at": _stamp(_utc(row.issued_at)),
            "code_failures": row.code_failures,
            "code_locked_until": _stamp(_utc(row.code_locked_until)) if locked else None,
            "pickups": [
                {
                    "pickup_id": p.id,
                    "mode": p.mode,
                    "store_id": p.store_id,
                    "address_ref": p.address_ref,
                    "state": p.state,
                    "requested_at": _stamp(_utc(p.requested_at)),
                }
                for p in pickup_rows
            ],
            "events": [item.event for item in history],
        }

    def card_history(self, card_number: str) -> CardHistory:
        """Everything a holder of the number may see and verify (public view, bundles)."""
        with read_transaction(self._engine) as conn:
            return read_card_history(conn, _number(card_number))

    def anomalies(
        self,
        actor: Actor,
        *,
        kind: str | None = None,
        since: datetime | None = None,
        store_id: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Recent anomalies for the console, newest first (headquarters and auditors)."""
        _require_role(actor, ("hq", "auditor", "system"))
        query = sa.select(anomalies).order_by(anomalies.c.at.desc(), anomalies.c.id.desc())
        if kind is not None:
            query = query.where(anomalies.c.kind == kind)
        if since is not None:
            query = query.where(anomalies.c.at >= since.astimezone(UTC))
        if store_id is not None:
            query = query.where(anomalies.c.store_id == store_id)
        with read_transaction(self._engine) as conn:
            rows = conn.execute(query.limit(max(1, min(limit, 1000)))).all()
        return [
            {
                "id": r.id,
                "kind": r.kind,
                "card_number": r.card_number,
                "store_id": r.store_id,
                "at": _stamp(_utc(r.at)),
                "actor": {"role": r.actor_role, "id": r.actor_id},
                "detail": r.detail,
            }
            for r in rows
        ]


@functools.lru_cache(maxsize=1024)
def _json_list(items: tuple[str, ...]) -> str:
    # Cards of one batch mostly share their allow-lists: encode each list once.
    return json.dumps(list(items))


def _import_key(batch_ref: str, row_key: str | None) -> str | None:
    return None if row_key is None else f"{batch_ref}/{row_key}"


def _reason(reason: object) -> str:
    if reason is None or reason == "":
        return ""
    return _valid(check_text, reason, "reason")


def _seconds(left: timedelta | None) -> int:
    return 0 if left is None else int(-(-left.total_seconds() // 1))


def _minutes(left: timedelta | None) -> str:
    minutes = -(-_seconds(left) // 60)
    return f"{minutes} minute" + ("" if minutes == 1 else "s")
