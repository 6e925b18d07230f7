"""Gifts (转赠) by share link, and the customer's own claim and code check.

The holder offers the card with its code: the card goes to GIFT_OFFERED (unusable while
the offer is open) and the answer carries a share link's token, kept here only as its
HMAC under the server secret. The recipient opening the link accepts it with a holder
reference of their own: GIFT_ACCEPTED, the card is TRANSFERRED to them and gets a new
code, shown to them once; the giver's code stops working. An offer nobody accepts within
:data:`GIFT_HOURS` goes back: GIFT_RETURNED returns the card to the giver's state, noticed
lazily on the next access to the offer or by the expiry job
(:meth:`GiftCommands.return_due_gifts`). The giver may withdraw an open offer with the
card's code (GIFT_WITHDRAWN, back to their state at once): the link then answers
GIFT_OFFER_WITHDRAWN, not GIFT_OFFER_EXPIRED.

An offer row keeps ``returned`` for both ends (the table's states predate withdrawal): a
withdrawal closes it before its end, a lapse at or after it, so :func:`offer_state` tells
them apart without a schema change.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ledger_service import errors
from ledger_service.actor import SYSTEM, Actor
from ledger_service.domain import codes, lockout
from ledger_service.domain.cards import text as check_text
from ledger_service.domain.lifecycle import (
    AcceptGift,
    CardState,
    Claim,
    EventType,
    OfferGift,
    ReturnGift,
    WithdrawGift,
    decide,
)
from ledger_service.schema import cards, events, gift_offers
from ledger_service.service.checks import WRITERS, card_number, require_role, valid
from ledger_service.service.events_log import apply
from ledger_service.service.rows import card_of, card_or_404, lock_values, utc
from ledger_service.service.traces import Trace, check_code
from ledger_service.service.transaction import CommandRunner, code_accepted

GIFT_HOURS = 24
"""How long a gift offer stays open, as WeChat card gifts do."""
_TOKEN_CONTEXT = b"cardtrail/gift-token/v1\x00"
_HOLDERS = (*WRITERS, "customer")


class GiftCommands(CommandRunner):
    """The holder's own commands with the card's code: claim, check, gift."""

    def claim_with_code(
        self,
        actor: Actor,
        number: str,
        redemption_code: str,
        holder_ref: str,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """The customer claims the card (ISSUED → CLAIMED), proving it with its code."""
        require_role(actor, _HOLDERS)
        number = card_number(number)
        holder = valid(check_text, holder_ref, "holder_ref")
        now = self._now()
        trace = Trace(actor, "claim", now, number)
        with self._command(number, within, trace) as (conn, log, size, row):
            draft = decide(card_of(row), Claim(self._holder_tag(holder, bytes(row.salt))), now)
            leaf_index = self._apply_with_code(
                conn, log, size, row, redemption_code, draft, actor, now, holder_ref=holder
            )
        return {"card_number": number, "state": draft.state.value, "leaf_index": leaf_index}

    def verify_code(
        self, actor: Actor, number: str, redemption_code: str, *, within: Connection | None = None
    ) -> dict[str, Any]:
        """卡密验证: whether the code is the card's, without using the card. It counts as an
        attempt: a wrong one toward the lockout, a right one ends the run of wrong ones."""
        require_role(actor, _HOLDERS)
        number = card_number(number)
        now = self._now()
        with self._run(within, Trace(actor, "verify_code", now, number)) as conn:
            # No event: the row lock orders it with the wrong-code counts.
            row = card_or_404(conn, number, lock=True)
            check_code(self._secret, row, redemption_code, now)
            conn.execute(
                sa.update(cards).where(cards.c.number == number).values(**code_accepted(row))
            )
        return {"card_number": number, "valid": True, "state": row.state}

    def offer_gift(
        self,
        actor: Actor,
        number: str,
        redemption_code: str,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """Open a gift share link for the card; the answer's ``token`` goes in the link
        (shown this once)."""
        require_role(actor, _HOLDERS)
        number = card_number(number)
        now = self._now()
        offer_id = "gf_" + secrets.token_hex(8)
        token = secrets.token_urlsafe(24)
        expires_at = now + timedelta(hours=GIFT_HOURS)
        trace = Trace(actor, "offer_gift", now, number)
        with self._command(number, within, trace) as (conn, log, size, row):
            draft = decide(card_of(row), OfferGift(offer_id, expires_at), now)
            leaf_index = self._apply_with_code(
                conn, log, size, row, redemption_code, draft, actor, now
            )
            conn.execute(
                sa.insert(gift_offers),
                {
                    "id": offer_id,
                    "card_number": number,
                    "token_hash": self._token_hash(token),
                    "from_state": row.state,
                    "state": "open",
                    "created_at": now,
                    "expires_at": expires_at,
                },
            )
        return {
            "offer_id": offer_id,
            "token": token,
            "card_number": number,
            "state": draft.state.value,
            "expires_at": expires_at,
            "leaf_index": leaf_index,
        }

    def withdraw_gift(
        self,
        actor: Actor,
        number: str,
        redemption_code: str,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """The giver takes back the card's open gift offer with the card's code: the card
        returns to its state before the offer and the link stops working at once.

        An offer already past its end has lapsed: its GIFT_RETURNED is logged instead
        (``offer_state`` ``returned``). Asked again once the offer is closed, the answer
        is that closing again, with no second event (a retry or a double tap); the code is
        checked each time. INVALID_TRANSITION when the gift was accepted or never made."""
        require_role(actor, _HOLDERS)
        number = card_number(number)
        now = self._now()
        trace = Trace(actor, "withdraw_gift", now, number)
        with self._command(number, within, trace) as (conn, log, size, row):
            offer = _latest_offer(conn, number)
            if offer is None:
                raise errors.InvalidTransition("the card has no gift offer to withdraw")
            if offer.state == "accepted":
                raise errors.InvalidTransition("the gift was already accepted by its recipient")
            if offer.state != "open":
                return self._closed_again(conn, row, offer, redemption_code, now)
            expires_at = utc(offer.expires_at)
            assert expires_at is not None
            back_to = CardState(offer.from_state)
            if expires_at <= now:
                draft = decide(card_of(row), ReturnGift(offer.id, back_to, expires_at), now)
                by = SYSTEM
            else:
                draft = decide(card_of(row), WithdrawGift(offer.id, back_to, expires_at), now)
                by = actor
            leaf_index = self._apply_with_code(
                conn, log, size, row, redemption_code, draft, by, now
            )
            self._close(conn, offer.id, "returned", now)
            closed = conn.execute(sa.select(gift_offers).where(gift_offers.c.id == offer.id)).one()
        return _withdrawal_json(closed, leaf_index)

    def _closed_again(
        self, conn: Connection, row: Row[Any], offer: Row[Any], code: object, now: datetime
    ) -> dict[str, Any]:
        """A withdrawal asked again once the offer closed: the code is checked as for the
        withdrawal itself (a wrong one counts), and the closing is answered again."""
        check_code(self._secret, row, code, now)
        conn.execute(
            sa.update(cards).where(cards.c.number == row.number).values(**code_accepted(row))
        )
        return _withdrawal_json(offer, _closing_leaf(conn, row.number))

    def gift_offer(self, offer_id: str, token: str) -> dict[str, Any]:
        """What the recipient's link shows: the offer's state and end, and the card. An
        offer past its end is returned first (GIFT_NOT_FOUND for a wrong token, as for
        none)."""
        offer = self._offer_or_404(offer_id, token)
        ends = utc(offer.expires_at)
        if offer.state == "open" and ends is not None and ends <= self._now():
            self._return(offer, SYSTEM)
            offer = self._offer_or_404(offer_id, token)
        return _offer_json(offer)

    def accept_gift(
        self,
        actor: Actor,
        offer_id: str,
        token: str,
        holder_ref: str,
        *,
        within: Connection | None = None,
    ) -> dict[str, Any]:
        """The recipient takes the card: it is theirs (TRANSFERRED) with a new code, shown
        in this answer only. GIFT_OFFER_EXPIRED once the offer has ended."""
        require_role(actor, _HOLDERS)
        holder = valid(check_text, holder_ref, "holder_ref")
        offer = self._offer_or_404(offer_id, token)
        _require_open(offer)
        expires_at = utc(offer.expires_at)
        assert expires_at is not None
        if expires_at <= self._now():
            self._return(offer, SYSTEM)
            raise errors.GiftOfferExpired("this gift was not accepted in time")
        new_code = codes.generate_code()
        now = self._now()
        with self._command(offer.card_number, within) as (conn, log, size, row):
            # Read again under the log head: a withdrawal may have closed it meanwhile,
            # and the card may be on offer again by a new link.
            _require_open(
                conn.execute(sa.select(gift_offers).where(gift_offers.c.id == offer.id)).one()
            )
            tag = self._holder_tag(holder, bytes(row.salt))
            draft = decide(card_of(row), AcceptGift(offer.id, tag, expires_at), now)
            leaf_index = apply(
                conn,
                log,
                size,
                row,
                draft,
                actor,
                now,
                holder_ref=holder,
                code_hash=codes.code_hash(self._secret, new_code),
                **lock_values(lockout.LockState()),
            )
            self._close(conn, offer.id, "accepted", now)
        return {
            "offer_id": offer.id,
            "card_number": offer.card_number,
            "state": draft.state.value,
            "leaf_index": leaf_index,
            "redemption_code": new_code,
        }

    def return_due_gifts(self, actor: Actor = SYSTEM) -> int:
        """Return every gift offer past its end (the expiry job); returns how many."""
        require_role(actor, WRITERS)
        query = sa.select(gift_offers).where(
            gift_offers.c.state == "open", gift_offers.c.expires_at <= self._now()
        )
        with self._engine.connect() as conn:
            due = conn.execute(query.order_by(gift_offers.c.expires_at)).all()
        returned = 0
        for offer in due:
            returned += self._return(offer, actor)
        return returned

    def _return(self, offer: Row[Any], actor: Actor) -> int:
        """GIFT_RETURNED for an open offer past its end; 0 if it was closed meanwhile."""
        now = self._now()
        expires_at = utc(offer.expires_at)
        assert expires_at is not None
        with self._command(offer.card_number, None) as (conn, log, size, row):
            still_open = conn.execute(
                sa.select(gift_offers.c.state).where(gift_offers.c.id == offer.id)
            ).scalar_one()
            if still_open != "open" or row.state != CardState.GIFT_OFFERED.value:
                return 0
            back_to = CardState(offer.from_state)
            draft = decide(card_of(row), ReturnGift(offer.id, back_to, expires_at), now)
            apply(conn, log, size, row, draft, actor, now)
            self._close(conn, offer.id, "returned", now)
        return 1

    @staticmethod
    def _close(conn: Connection, offer_id: str, state: str, now: Any) -> None:
        conn.execute(
            sa.update(gift_offers)
            .where(gift_offers.c.id == offer_id)
            .values(state=state, closed_at=now)
        )

    def _token_hash(self, token: str) -> bytes:
        return hmac.digest(self._secret, _TOKEN_CONTEXT + token.encode(), hashlib.sha256)

    def _offer_or_404(self, offer_id: str, token: str) -> Row[Any]:
        with self._engine.connect() as conn:
            offer = conn.execute(
                sa.select(gift_offers).where(gift_offers.c.id == str(offer_id)[:32])
            ).first()
        if offer is None or not hmac.compare_digest(
            bytes(offer.token_hash), self._token_hash(str(token))
        ):
            raise errors.GiftNotFound("no such gift offer")
        return offer


def offer_state(offer: Row[Any]) -> str:
    """``open``, ``accepted``, ``returned`` (lapsed) or ``withdrawn``: a ``returned`` row
    closed before its end was withdrawn, since only a withdrawal closes an offer early."""
    closed_at, expires_at = utc(offer.closed_at), utc(offer.expires_at)
    if offer.state == "returned" and closed_at and expires_at and closed_at < expires_at:
        return "withdrawn"
    return str(offer.state)


def _require_open(offer: Row[Any]) -> None:
    """GIFT_OFFER_WITHDRAWN or GIFT_OFFER_EXPIRED unless ``offer`` is still open."""
    state = offer_state(offer)
    if state == "withdrawn":
        raise errors.GiftOfferWithdrawn("the giver withdrew this gift before it was accepted")
    if state != "open":
        raise errors.GiftOfferExpired(f"this gift was already {state}")


def _latest_offer(conn: Connection, number: str) -> Row[Any] | None:
    """The card's open gift offer, else its most recently closed one."""
    return conn.execute(
        sa.select(gift_offers)
        .where(gift_offers.c.card_number == number)
        .order_by(
            (gift_offers.c.state == "open").desc(),
            gift_offers.c.closed_at.desc(),
            gift_offers.c.created_at.desc(),
        )
        .limit(1)
    ).first()


def _closing_leaf(conn: Connection, number: str) -> int:
    """The leaf of the card's latest withdrawal or lapse: what closed its latest offer."""
    closings = (EventType.GIFT_WITHDRAWN.value, EventType.GIFT_RETURNED.value)
    return int(
        conn.execute(
            sa.select(events.c.leaf_index)
            .where(events.c.card_number == number, events.c.type.in_(closings))
            .order_by(events.c.seq.desc())
            .limit(1)
        ).scalar_one()
    )


def _withdrawal_json(offer: Row[Any], leaf_index: int) -> dict[str, Any]:
    return {
        "offer_id": offer.id,
        "card_number": offer.card_number,
        "state": offer.from_state,
        "offer_state": offer_state(offer),
        "leaf_index": leaf_index,
    }


def _offer_json(offer: Row[Any]) -> dict[str, Any]:
    return {
        "offer_id": offer.id,
        "card_number": offer.card_number,
        "state": offer_state(offer),
        "expires_at": utc(offer.expires_at),
    }
