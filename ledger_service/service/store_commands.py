"""The chain's stores: headquarters adds them; every role may list them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from anchoring.db import read_transaction
from ledger_service import errors
from ledger_service.actor import Actor
from ledger_service.domain.cards import store_id as check_store_id
from ledger_service.domain.cards import text as check_text
from ledger_service.schema import stores
from ledger_service.service.checks import READERS, WRITERS, require_role, valid
from ledger_service.service.rows import store_json, store_row
from ledger_service.service.transaction import CommandRunner


class StoreCommands(CommandRunner):
    """Creating and listing stores."""

    def create_store(
        self,
        actor: Actor,
        store_id: str,
        name: str,
        region: str,
        *,
        within: Connection | None = None,
    ) -> dict[str, str]:
        """Add a store of the chain (headquarters only)."""
        require_role(actor, WRITERS)
        row = {
            "id": valid(check_store_id, store_id),
            "name": valid(check_text, name, "name"),
            "region": valid(check_text, region, "region", limit=64),
            "created_at": self._now(),
        }
        exists = errors.StoreExists(f"store {row['id']} already exists")
        try:
            with self._run(within) as conn:
                if store_row(conn, row["id"]) is not None:
                    raise exists
                conn.execute(sa.insert(stores), row)
        except sa.exc.IntegrityError:
            # A concurrent twin inserted it first: its savepoint is rolled back.
            raise exists from None
        return {"id": row["id"], "name": row["name"], "region": row["region"]}

    def list_stores(self, actor: Actor) -> list[dict[str, str]]:
        """Every store, by id."""
        require_role(actor, READERS)
        with read_transaction(self._engine) as conn:
            rows = conn.execute(sa.select(stores).order_by(stores.c.id)).all()
        return [store_json(row) for row in rows]
