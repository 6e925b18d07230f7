"""Issuing cards: a batch of up to :data:`MAX_BATCH` cards, one ISSUED event each, in one
transaction."""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain import codes, value
from ledger_service.domain.cards import CardSpec, parse_card_spec
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.lifecycle import CardKind, CardState, EventDraft, EventType
from ledger_service.domain.numbers import generate_card_number
from ledger_service.events import GENESIS
from ledger_service.schema import cards, events, stores
from ledger_service.service.checks import WRITERS, require_role, valid
from ledger_service.service.events_log import LogEntry, bulk_insert, chunks, log_events
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
        specs = self.check_cards(cards_in)
        now = self._now()
        with self._run(within) as conn:
            log, size = head(conn)
            _check_stores_exist(conn, {s for spec in specs for s in spec.allowed_stores})
            catalogue = products_of(conn, {spec.sku for spec in specs if spec.sku})
            done = _already_imported(conn, batch_ref, specs)
            fresh = [_from_catalogue(spec, catalogue) for spec in specs if spec.row_key not in done]
            numbers = _new_numbers(conn, len(fresh))
            card_rows, entries = [], []
            issued: list[dict[str, Any]] = []
            for spec, number in zip(fresh, numbers, strict=True):
                code = codes.generate_code()
                salt = secrets.token_bytes(16)
                data = self._issued_data(spec, batch_ref, salt, active)
                state = CardState.ISSUED if active else CardState.INACTIVE
                entry: LogEntry = (
                    number,
                    salt,
                    0,
                    GENESIS,
                    EventDraft(EventType.ISSUED, state, now, data=data),
                )
                entries.append(entry)
                card_rows.append(
                    self._card_row(spec, number, salt, code, batch_ref, now, active=active)
                )
                issued.append({"card_number": number, "redemption_code": code})
            if entries:
                logged, event_rows = log_events(log, size, actor, now, entries)
                for row, card, (leaf_index, last_hash) in zip(
                    card_rows, issued, logged, strict=True
                ):
                    row["last_event_hash"] = last_hash
                    card["leaf_index"] = leaf_index
                # Cards first: each events row refers to its card.
                bulk_insert(conn, cards, card_rows)
                bulk_insert(conn, events, event_rows)
        for spec, card in zip(fresh, issued, strict=True):
            if spec.row_key is not None:
                card["row_key"] = spec.row_key
        skipped = [{"row_key": key, "card_number": done[key]} for key in sorted(done)]
        return {"batch_ref": batch_ref, "cards": issued, "skipped": skipped}

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

    def _issued_data(
        self, spec: IssuedSpec, batch_ref: str, salt: bytes, active: bool
    ) -> dict[str, Any]:
        return {
            "product": spec.product,
            "face_value": spec.face_value,
            "currency": spec.currency,
            "expires_at": stamp(spec.expires_at),
            "allowed_stores": list(spec.allowed_stores),
            "allowed_regions": list(spec.allowed_regions),
            "batch_ref": batch_ref,
            "holder": self._holder_tag(spec.holder_ref, salt) if spec.holder_ref else None,
            "kind": spec.kind,
            "sku": spec.sku,
            "units": spec.units,
            "active": active,
        }

    def _card_row(
        self,
        spec: IssuedSpec,
        number: str,
        salt: bytes,
        code: str,
        batch_ref: str,
        now: datetime,
        *,
        active: bool,
    ) -> dict[str, Any]:
        return {
            "number": number,
            "salt": salt,
            "code_hash": codes.code_hash(self._secret, code),
            "state": (CardState.ISSUED if active else CardState.INACTIVE).value,
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
            "kind": spec.kind,
            "sku": spec.sku,
            "balance": value.opening_balance(spec.kind, spec.face_value, spec.units)
            if active
            else None,
            "channel_id": None,
            "sale_price": None,
            "activated_at": now if active else None,
        }


@dataclass(frozen=True)
class IssuedSpec:
    """A card to issue with its product resolved: what its ISSUED event and row hold."""

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
    row_key: str | None


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
        row_key=spec.row_key,
    )


def _check_stores_exist(conn: Connection, wanted: set[str]) -> None:
    found: set[str] = set()
    for chunk in chunks(sorted(wanted)):
        found.update(conn.execute(sa.select(stores.c.id).where(stores.c.id.in_(chunk))).scalars())
    missing = sorted(wanted - found)
    if missing:
        raise errors.StoreNotFound(f"unknown store(s) in allowed_stores: {', '.join(missing[:10])}")


def _already_imported(
    conn: Connection, batch_ref: str, specs: Sequence[CardSpec]
) -> dict[str, str]:
    """Row keys of this batch that were issued before, with their card numbers."""
    by_key = {_import_key(batch_ref, s.row_key): s.row_key for s in specs if s.row_key}
    done: dict[str, str] = {}
    for chunk in chunks(list(by_key)):
        query = sa.select(cards.c.import_key, cards.c.number).where(cards.c.import_key.in_(chunk))
        done.update((by_key[key], number) for key, number in conn.execute(query))
    return done


def _new_numbers(conn: Connection, count: int) -> list[str]:
    """``count`` fresh card numbers that no card has yet."""
    numbers: set[str] = set()
    while len(numbers) < count:
        # A collision among ~79 random bits is a freak event, but it must not become a
        # duplicate key error halfway through a million-card import.
        wanted = {generate_card_number() for _ in range(count - len(numbers))} - numbers
        for chunk in chunks(sorted(wanted)):
            taken = conn.execute(sa.select(cards.c.number).where(cards.c.number.in_(chunk)))
            wanted -= set(taken.scalars())
        numbers |= wanted
    return list(numbers)


@functools.lru_cache(maxsize=1024)
def _json_list(items: tuple[str, ...]) -> str:
    # Cards of one batch mostly share their allow-lists: encode each list once.
    return json.dumps(list(items))


def _import_key(batch_ref: str, row_key: str | None) -> str | None:
    return None if row_key is None else f"{batch_ref}/{row_key}"
