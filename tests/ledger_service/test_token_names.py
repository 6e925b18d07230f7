"""Staff display names on API tokens: the CLI, the API and the console show them; the log
keeps the token id, never a name."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from anchoring.db import read_transaction
from anchoring.schema import log_leaves
from cardtrail.cli import main
from ledger_service import db
from ledger_service.auth import create_token, list_tokens, rename_token, token_name
from ledger_service.schema import api_tokens, events

KEY = bytes(range(32))


@pytest.fixture
def migrated(engine):
    db.upgrade(engine)
    return engine


def test_a_token_carries_a_display_name_that_can_change(migrated):
    issued = create_token(migrated, KEY, "store", "SH01", name=" 张三 ")
    assert issued.name == "张三"
    assert token_name(migrated, f"tok_{issued.id}") == "张三"
    assert rename_token(migrated, issued.id, "李四")
    assert [(t["id"], t["store_id"], t["name"]) for t in list_tokens(migrated)] == [
        (issued.id, "SH01", "李四")
    ]
    assert rename_token(migrated, issued.id, None)
    assert token_name(migrated, issued.id) is None
    assert not rename_token(migrated, "0" * 12, "nobody")


@pytest.mark.parametrize("name", ["x" * 65, "tab\there"])
def test_a_malformed_name_is_refused(migrated, name):
    with pytest.raises(ValueError):
        create_token(migrated, KEY, "hq", name=name)
    with migrated.connect() as conn:
        assert conn.execute(sa.select(api_tokens)).all() == []


def test_cli_creates_a_named_token(tmp_path, db_url):
    env = {"CARDTRAIL_DATABASE_URL": db_url}
    data = str(tmp_path / "data")
    result = CliRunner().invoke(
        main,
        [
            "token",
            "create",
            "--role",
            "store",
            "--store",
            "SH01",
            "--name",
            "张三",
            "--data-dir",
            data,
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "(张三)" in result.output.splitlines()[0]


def test_the_api_names_a_token_and_the_log_keeps_only_its_id(api, app, tokens):
    hq_id = tokens["hq"].split("_")[1]
    named = api.post(f"/tokens/{hq_id}/name", {"name": "王五"})
    assert named.status_code == 200, named.get_json()
    assert named.get_json()["name"] == "王五"
    listed = {t["token_id"]: t for t in api.get("/tokens").get_json()["tokens"]}
    assert listed[hq_id]["name"] == "王五" and "secret_hash" not in listed[hq_id]
    issued = api.post("/cards", {"batch_ref": "B1", "cards": [{"product": "Tea"}]})
    assert issued.status_code == 201
    engine = app.extensions["cardtrail"].engine
    with read_transaction(engine) as conn:
        leaves = b"".join(
            bytes(v) for v in conn.execute(sa.select(log_leaves.c.leaf_input)).scalars()
        )
        actors = set(conn.execute(sa.select(events.c.actor_id)).scalars())
    assert "王五".encode() not in leaves
    assert f'"id":"tok_{hq_id}"'.encode() in leaves
    assert actors == {f"tok_{hq_id}"}


def test_only_headquarters_names_tokens(api, tokens):
    s1_id = tokens["S1"].split("_")[1]
    response = api.post(f"/tokens/{s1_id}/name", {"name": "张三"}, who="S1")
    assert response.status_code == 403
    assert api.get("/tokens", who="auditor").status_code == 403
    missing = api.post("/tokens/000000000000/name", {"name": "x"})
    assert missing.status_code == 404 and missing.get_json()["code"] == "TOKEN_NOT_FOUND"
