"""Fixtures for the merchant API tests: tokens per role and a small JSON client."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from ledger_service.auth import create_token


def mint_token(app, role: str, store_id: str | None = None) -> str:
    """A fresh API token for ``role`` on ``app``'s database (the text a client sends)."""
    rt = app.extensions["cardtrail"]
    return create_token(rt.engine, rt.secret_key, role, store_id).token


@dataclass
class Api:
    """Calls ``/api/v1`` as a given role; every POST gets a fresh Idempotency-Key unless given."""

    client: Any
    tokens: dict[str, str]
    _keys: Any = None

    def __post_init__(self) -> None:
        self._keys = (f"key-{n}" for n in itertools.count())

    def headers(self, who: str | None, key: str | None = None) -> dict[str, str]:
        headers = {}
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(who, who)}"
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def post(
        self, path: str, body: Any = None, who: str | None = "hq", key: str | None = None, **kw
    ):
        headers = self.headers(who, key or next(self._keys))
        headers.update(kw.pop("headers", {}))
        if body is not None and "data" not in kw:
            kw["json"] = body
        return self.client.post(f"/api/v1{path}", headers=headers, **kw)

    def get(self, path: str, who: str | None = "hq", headers: dict[str, str] | None = None):
        return self.client.get(f"/api/v1{path}", headers=self.headers(who) | (headers or {}))


@pytest.fixture
def tokens(app) -> dict[str, str]:
    """One token per role: hq, auditor, and store tokens for stores S1 and S2."""
    return {
        "hq": mint_token(app, "hq"),
        "auditor": mint_token(app, "auditor"),
        "S1": mint_token(app, "store", "S1"),
        "S2": mint_token(app, "store", "S2"),
    }


@pytest.fixture
def api(client, tokens) -> Api:
    """A JSON client of the merchant API with stores S1 (north) and S2 (south)."""
    api = Api(client, tokens)
    for store_id, region in (("S1", "north"), ("S2", "south")):
        response = api.post(
            "/stores", {"store_id": store_id, "name": f"Store {store_id}", "region": region}
        )
        assert response.status_code == 201, response.get_json()
    return api


@pytest.fixture
def log_size(app):
    """A function returning the log's current size."""
    engine = app.extensions["cardtrail"].engine

    def size() -> int:
        with read_transaction(engine) as conn:
            return MerkleLog(conn).size()

    return size


@pytest.fixture
def count_rows(app):
    """A function counting the rows of a table."""
    engine = app.extensions["cardtrail"].engine

    def count(table: sa.Table) -> int:
        with read_transaction(engine) as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()

    return count
