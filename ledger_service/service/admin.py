"""Administrative actions with an attributable record: who (the token id), when, what.

Headquarters' actions on a card — block, unblock, void, unlock a locked code, and the
money actions activate, load, refund and adjust — run
through :meth:`AdminActions.administer`, from the API and the console alike: the command
itself and its ``admin_actions`` row commit in one transaction, so there is never an
action without its record nor a record of an action that was refused. All but the code
unlock are log events as well; the code unlock writes none, so its row is its only trace.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from anchoring.db import read_transaction
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.business_days import utc
from ledger_service.schema import admin_actions
from ledger_service.service.card_commands import CardCommands
from ledger_service.service.checks import WRITERS, card_number, require_role
from ledger_service.service.rows import stamp

ADMIN_ACTIONS: dict[str, tuple[str, ...]] = {
    "block": ("reason_code",),
    "unblock": ("reason_code",),
    "void": ("reason_code",),
    "unlock_code": (),
    "activate": ("channel_id", "price"),
    "load": ("amount",),
    "refund": ("refund_of", "amount"),
    "adjust": ("amount", "reason_code"),
}
"""Headquarters' card actions (each a Ledger method taking ``actor, number, ...,
within=``) and which of their arguments the record keeps — codes and amounts, never free
text (a reason's text stays beside its event, out of the log)."""


def record_action(
    conn: Connection,
    actor: Actor,
    action: str,
    at: datetime,
    card: str | None,
    leaf_index: int | None = None,
    detail: str = "",
) -> None:
    """Write the record of an administrative action on ``conn`` (the action's own
    transaction, so that both commit or neither)."""
    conn.execute(
        sa.insert(admin_actions).values(
            at=at,
            actor_role=actor.role,
            actor_id=actor.id,
            action=action,
            card_number=card,
            leaf_index=leaf_index,
            detail=detail[:500],
        )
    )


class AdminActions(CardCommands):
    """Headquarters' card actions, each with its record."""

    def administer(
        self,
        actor: Actor,
        action: str,
        number: str,
        *,
        within: Connection | None = None,
        **arguments: Any,
    ) -> dict[str, Any]:
        """Run ``action`` (one of :data:`ADMIN_ACTIONS`, with its ``arguments``) on the
        card ``number`` and record who did it and when; the answer is the command's."""
        require_role(actor, WRITERS)
        if action not in ADMIN_ACTIONS:
            raise errors.ValidationFailed(f"unknown action {action!r}")
        number = card_number(number)
        kept = " ".join(f"{k}={arguments[k]}" for k in ADMIN_ACTIONS[action] if k in arguments)
        with self._run(within) as conn:
            done: dict[str, Any] = getattr(self, action)(actor, number, within=conn, **arguments)
            record_action(conn, actor, action, self._now(), number, done.get("leaf_index"), kept)
        return done

    def admin_record(
        self, actor: Actor, *, number: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The newest administrative actions (of one card with ``number``), newest first:
        for headquarters and auditors."""
        require_role(actor, ("hq", "auditor", "system"))
        query = sa.select(admin_actions).order_by(
            admin_actions.c.at.desc(), admin_actions.c.id.desc()
        )
        if number is not None:
            query = query.where(admin_actions.c.card_number == card_number(number))
        with read_transaction(self._engine) as conn:
            rows = conn.execute(query.limit(max(1, min(limit, 1000)))).all()
        return [
            {
                "at": stamp(utc(r.at)),
                "actor": {"role": r.actor_role, "id": r.actor_id},
                "action": r.action,
                "card_number": r.card_number,
                "leaf_index": r.leaf_index,
                "detail": r.detail,
            }
            for r in rows
        ]
