"""Issuing cards: a batch of up to :data:`MAX_BATCH` cards, one ISSUED event each, in one
transaction."""

from __future__ import annotations

import functools
import gc
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from anchoring.log import MerkleLog
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain import codes, value
from ledger_service.domain.cards import CardSpec, parse_card_spec
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.lifecycle import CardKind, CardState, EventDraft, EventType
from ledger_service.events import GENESIS
from ledger_service.schema import cards, events
from ledger_service.service.checks import WRITERS, require_role, valid
from ledger_service.service.events_log import LogEntry, bulk_insert, bulk_insert_rows, log_events
from ledger_service.service.issuance_lookups import (
    already_imported,
    check_stores_exist,
    new_numbers,
)
from ledger_service.service.products import products_of
from ledger_service.service.rows import stamp
from ledger_service.service.transaction import CommandRunner, head

MAX_BATCH = 10_000
"""Most cards one ``issue_cards`` call (one transaction) may issue."""


class Issuance(CommandRunner):
    """Issuing batches of cards."""

    def issue_cards(
        self,
        actor: Actor,
        batch_ref: str,
        cards_in: Sequence[Mapping[str, Any]],
        *,
        active: bool = False,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Issue a batch of cards in one transaction: one ISSUED event per card.

        Each card is a dict of :data:`ledger_service.domain.cards.FIELDS`. A card with a
        ``row_key`` is issued at most once per ``batch_ref``: repeating it returns it under
        ``"skipped"`` instead. The redemption codes in the answer are never shown again.
        Cards are issued INACTIVE (stock, not sold: unusable until activated) unless
        ``active`` (sold at once, e.g. e-cards sold online; value cards then open with
        their balance). A card naming a ``sku`` takes kind, face value, currency and units
        from the product; PRODUCT_NOT_FOUND if there is none.
        ``within``: a :meth:`unit_of_work` to write in instead of one of its own.
        """
        require_role(actor, WRITERS)
        batch_ref = valid(check_text, batch_ref, "batch_ref")
        with _collector_paused():
            return self._issue(actor, batch_ref, cards_in, active, within)

    def _issue(
        self,
        actor: Actor,
        batch_ref: str,
        cards_in: Sequence[Mapping[str, Any]],
        active: bool,
        within: Connection | None,
    ) -> dict[str, Any]:
        specs = self.check_cards(cards_in)
        now = self._now()
        with self._run(within) as conn:
            log, size = head(conn)
            check_stores_exist(conn, {s for spec in specs for s in spec.allowed_stores})
            catalogue = products_of(conn, {spec.sku for spec in specs if spec.sku})
            done = already_imported(conn, batch_ref, specs)
            fresh = [spec for spec in specs if spec.row_key not in done]
            numbers = new_numbers(conn, len(fresh))
            issued = self._write_cards(
                conn, log, size, actor, batch_ref, now, fresh, numbers, catalogue, active=active
            )
        skipped = [{"row_key": key, "card_number": done[key]} for key in sorted(done)]
        return {"batch_ref": batch_ref, "cards": issued, "skipped": skipped}

    def _write_cards(
        self,
        conn: Connection,
        log: MerkleLog,
        size: int,
        actor: Actor,
        batch_ref: str,
        now: datetime,
        fresh: Sequence[CardSpec],
        numbers: Sequence[str],
        catalogue: Mapping[str, Row[Any]],
        *,
        active: bool,
    ) -> list[dict[str, Any]]:
        """Log one ISSUED event per card and insert the cards and events rows; returns
        the answer's cards, in order."""
        if not fresh:
            return []
        state = CardState.ISSUED if active else CardState.INACTIVE
        # Cards of one batch mostly differ only by row key: resolve each distinct card, and
        # build its event data and row columns, once.
        shared: dict[tuple[Any, ...], _Shared] = {}
        entries: list[LogEntry] = []
        cards_rows: list[tuple[Any, ...]] = []
        issued: list[dict[str, Any]] = []
        codes_ = codes.generate_codes(self._secret, len(fresh))
        salts = secrets.token_bytes(16 * len(fresh))
        for k, (spec, number, (code, code_hash)) in enumerate(
            zip(fresh, numbers, codes_, strict=True)
        ):
            key = _spec_key(spec)
            common = shared.get(key)
            if common is None:
                common = shared[key] = self._shared(
                    _from_catalogue(spec, catalogue), batch_ref, now, active=active
                )
            salt = salts[16 * k : 16 * k + 16]
            data = common.data
            if spec.holder_ref:
                data = {**data, "holder": self._holder_tag(spec.holder_ref, salt)}
            entries.append(
                (number, salt, 0, GENESIS, EventDraft(EventType.ISSUED, state, now, data=data))
            )
            cards_rows.append(
                (number, salt, code_hash, _import_key(batch_ref, spec.row_key), *common.columns)
            )
            issued.append({"card_number": number, "redemption_code": code})
        logged, event_rows = log_events(log, size, actor, now, entries)
        rows = []
        for spec, row, card, (leaf_index, last_hash) in zip(
            fresh, cards_rows, issued, logged, strict=True
        ):
            rows.append((*row, last_hash))
            card["leaf_index"] = leaf_index
            if spec.row_key is not None:
                card["row_key"] = spec.row_key
        # Cards first: each events row refers to its card.
        bulk_insert_rows(conn, cards, _CARD_COLUMNS, rows)
        bulk_insert(conn, events, event_rows)
        return issued

    @staticmethod
    def _shared(spec: IssuedSpec, batch_ref: str, now: datetime, *, active: bool) -> _Shared:
        """What every card of ``spec`` has in common: its event data (holder aside) and
        the card row's columns in :data:`_CARD_COLUMNS` order after the per-card ones."""
        return _Shared(
            data=Issuance._issued_data(spec, batch_ref, active),
            columns=(
                (CardState.ISSUED if active else CardState.INACTIVE).value,
                None,
                spec.product,
                spec.face_value,
                spec.currency,
                _json_list(spec.allowed_stores),
                _json_list(spec.allowed_regions),
                spec.expires_at,
                spec.holder_ref,
                0,
                batch_ref,
                now,
                now,
                0,
                0,
                None,
                spec.kind,
                spec.sku,
                value.opening_balance(spec.kind, spec.face_value, spec.units) if active else None,
                None,
                None,
                now if active else None,
            ),
        )

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
        parsed: dict[tuple[Any, ...], CardSpec] = {}
        for index, raw in enumerate(cards_in):
            try:
                specs.append(_parse_once(raw, parsed))
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

    @staticmethod
    def _issued_data(spec: IssuedSpec, batch_ref: str, active: bool) -> dict[str, Any]:
        """The ISSUED event's data of a card of ``spec`` with no holder."""
        return {
            "product": spec.product,
            "face_value": spec.face_value,
            "currency": spec.currency,
            "expires_at": stamp(spec.expires_at),
            "allowed_stores": list(spec.allowed_stores),
            "allowed_regions": list(spec.allowed_regions),
            "batch_ref": batch_ref,
            "holder": None,
            "kind": spec.kind,
            "sku": spec.sku,
            "units": spec.units,
            "active": active,
        }


_CARD_COLUMNS = (
    # Per card:
    "number",
    "salt",
    "code_hash",
    "import_key",
    # Per spec (Issuance._shared):
    "state",
    "blocked_from",
    "product",
    "face_value",
    "currency",
    "allowed_stores",
    "allowed_regions",
    "expires_at",
    "holder_ref",
    "seq",
    "batch_ref",
    "issued_at",
    "updated_at",
    "code_failures",
    "code_locks",
    "code_locked_until",
    "kind",
    "sku",
    "balance",
    "channel_id",
    "sale_price",
    "activated_at",
    # Known once the event is logged:
    "last_event_hash",
)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is built and written.

    Nearly everything a batch allocates lives until the batch is written, so collecting
    meanwhile frees nothing; yet those objects, surviving, set off full (generation 2)
    scans of the process's whole heap: about 40% of the CPU of an issue through the API.
    Left to reference counting they are freed as the batch ends, before any collection
    sees them. The collector is enabled again only if it was enabled here, and a batch
    of another thread that overlaps merely runs with it on again from then.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True)
class _Shared:
    """The event data and card columns that the cards of one spec share."""

    data: dict[str, Any]
    columns: tuple[Any, ...]


@dataclass(frozen=True)
class IssuedSpec:
    """A card to issue with its product resolved: what its ISSUED event and row hold
    (but its row key, number, salt and code, which differ from card to card)."""

    product: str
    kind: CardKind
    sku: str | None
    units: int | None
    face_value: int | None
    currency: str | None
    allowed_stores: tuple[str, ...]
    allowed_regions: tuple[str, ...]
    expires_at: datetime | None
    holder_ref: str | None


def _from_catalogue(spec: CardSpec, catalogue: Mapping[str, Row[Any]]) -> IssuedSpec:
    """``spec`` with kind, face value, currency and units from its product, if it names
    one; a free-text card is a pickup card of its own face value."""
    product = catalogue[spec.sku] if spec.sku else None
    return IssuedSpec(
        product=spec.product or (product.name_zh if product else ""),
        kind=product.kind if product else "pickup",
        sku=product.sku if product else None,
        units=product.units if product else None,
        face_value=product.face_value if product else spec.face_value,
        currency=product.currency if product else spec.currency,
        allowed_stores=spec.allowed_stores,
        allowed_regions=spec.allowed_regions,
        expires_at=spec.expires_at,
        holder_ref=spec.holder_ref,
    )


def _parse_once(raw: Mapping[str, Any], parsed: dict[tuple[Any, ...], CardSpec]) -> CardSpec:
    """:func:`parse_card_spec` of ``raw``, parsed once per distinct card of a batch.

    Cards of a batch mostly differ only by row key. The key holds each value's type, so
    that a value equal to an accepted one but of another type (``True`` and ``1``) is
    parsed, and refused, in its own right.
    """
    if type(raw) is not dict:
        return parse_card_spec(raw)
    key = tuple(
        (name, type(v), tuple(v) if type(v) is list else v)
        for name, v in raw.items()
        if name != "row_key"
    )
    try:
        spec = parsed.get(key)
    except TypeError:  # an unhashable value: refused by the parser below
        return parse_card_spec(raw)
    if spec is None:
        spec = parsed[key] = parse_card_spec(raw)
        return spec
    row_key = check_text(raw.get("row_key"), "row_key", optional=True)
    if row_key == spec.row_key:
        return spec
    # The constructor, positionally: dataclasses.replace cost as much as the parse saved.
    return CardSpec(
        spec.product,
        spec.sku,
        spec.face_value,
        spec.currency,
        spec.allowed_stores,
        spec.allowed_regions,
        spec.expires_at,
        spec.holder_ref,
        row_key,
    )


def _spec_key(spec: CardSpec) -> tuple[Any, ...]:
    """What a card's event data and row depend on: all of its spec but the row key."""
    return (
        spec.product,
        spec.sku,
        spec.face_value,
        spec.currency,
        spec.allowed_stores,
        spec.allowed_regions,
        spec.expires_at,
        spec.holder_ref,
    )


@functools.lru_cache(maxsize=1024)
def _json_list(items: tuple[str, ...]) -> str:
    # Cards of one batch mostly share their allow-lists: encode each list once.
    return json.dumps(list(items))


def _import_key(batch_ref: str, row_key: str | None) -> str | None:
    return None if row_key is None else f"{batch_ref}/{row_key}"
