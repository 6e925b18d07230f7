"""API tokens: creation, storage as keyed hashes, authentication, revocation, the CLI."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cardtrail.cli import main
from ledger_service import db
from ledger_service.auth import (
    authenticate,
    close_session,
    create_token,
    open_session,
    revoke_token,
    session_actor,
    token_hash,
)
from ledger_service.errors import Unauthorized
from ledger_service.schema import api_tokens, console_sessions

KEY = bytes(range(32))


@pytest.fixture
def migrated(engine):
    db.upgrade(engine)
    return engine


def test_token_is_stored_only_as_keyed_hash(migrated):
    issued = create_token(migrated, KEY, "hq")
    with migrated.connect() as conn:
        row = conn.execute(sa.select(api_tokens)).one()
    secret = issued.token.rsplit("_", 1)[1]
    assert len(secret) * 4 >= 128
    assert all(secret not in str(value) for value in row)
    assert row.secret_hash == token_hash(KEY, issued.token)
    assert token_hash(b"another key" * 3, issued.token) != row.secret_hash


def test_token_repr_never_shows_the_secret(migrated):
    issued = create_token(migrated, KEY, "auditor")
    assert issued.token not in repr(issued)
    assert issued.id in repr(issued)


def test_store_token_authenticates_as_its_store(migrated):
    issued = create_token(migrated, KEY, "store", "S1")
    actor = authenticate(migrated, KEY, f"Bearer {issued.token}")
    assert (actor.role, actor.store_id, actor.id) == ("store", "S1", f"tok_{issued.id}")


def test_bearer_scheme_is_case_insensitive(migrated):
    issued = create_token(migrated, KEY, "hq")
    assert authenticate(migrated, KEY, f"bearer {issued.token}").role == "hq"


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic abc", "Bearer", "Bearer ct_123_456", "Bearer " + "x" * 5000],
)
def test_missing_or_malformed_header_is_unauthorized(migrated, header):
    with pytest.raises(Unauthorized):
        authenticate(migrated, KEY, header)


def test_wrong_secret_is_unauthorized(migrated):
    issued = create_token(migrated, KEY, "hq")
    forged = issued.token[:-1] + ("0" if issued.token[-1] != "0" else "1")
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        authenticate(migrated, KEY, f"Bearer {forged}")


def test_token_checked_under_another_server_secret_is_unauthorized(migrated):
    issued = create_token(migrated, KEY, "hq")
    with pytest.raises(Unauthorized):
        authenticate(migrated, bytes(32), f"Bearer {issued.token}")


def test_revoked_token_is_unauthorized(migrated):
    issued = create_token(migrated, KEY, "hq")
    assert revoke_token(migrated, f"tok_{issued.id}")
    with pytest.raises(Unauthorized):
        authenticate(migrated, KEY, f"Bearer {issued.token}")
    assert not revoke_token(migrated, issued.id), "a second revocation finds no live token"


@pytest.mark.parametrize(
    ("role", "store", "message"),
    [
        ("store", None, "needs --store"),
        ("hq", "S1", "only a store token"),
        ("system", None, "unknown role"),
        ("store", "S 1", "malformed store id"),
    ],
)
def test_token_roles_and_stores_are_checked(migrated, role, store, message):
    with pytest.raises(ValueError, match=message):
        create_token(migrated, KEY, role, store)


def test_a_console_session_lives_until_closed_expired_or_revoked(migrated):
    from datetime import UTC, datetime, timedelta

    store = create_token(migrated, KEY, "store", "S1")
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    sid = open_session(migrated, f"tok_{store.id}", timedelta(hours=12), now)
    with migrated.connect() as conn:
        [row] = conn.execute(sa.select(console_sessions)).all()
    assert sid not in str(tuple(row)), "only a hash of the session id is stored"
    actor = session_actor(migrated, sid, now + timedelta(hours=11))
    assert (actor.role, actor.id, actor.store_id) == ("store", f"tok_{store.id}", "S1")
    assert session_actor(migrated, sid, now + timedelta(hours=12)) is None
    assert session_actor(migrated, sid + "x", now) is None
    close_session(migrated, sid)
    assert session_actor(migrated, sid, now) is None
    other = open_session(migrated, store.id, timedelta(hours=12), now)
    revoke_token(migrated, store.id)
    assert session_actor(migrated, other, now) is None


def test_opening_a_session_sweeps_out_expired_ones(migrated):
    from datetime import UTC, datetime, timedelta

    hq = create_token(migrated, KEY, "hq")
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    open_session(migrated, hq.id, timedelta(hours=1), now)
    live = open_session(migrated, hq.id, timedelta(hours=1), now + timedelta(hours=2))
    with migrated.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(console_sessions)).scalar() == 1
    assert session_actor(migrated, live, now + timedelta(hours=2)) is not None


def test_cli_prints_a_working_token_alone_on_the_last_line(tmp_path, db_url):
    runner = CliRunner()
    env = {"DATABASE_URL": db_url}
    data = str(tmp_path / "data")
    result = runner.invoke(
        main, ["token", "create", "--role", "store", "--store", "S7", "--data-dir", data], env=env
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    from anchoring.db import create_engine
    from ledger_service.config import Settings

    settings = Settings.from_env(data, environ=env)
    engine = create_engine(db_url)
    try:
        actor = authenticate(engine, settings.secret_key(), f"Bearer {token}")
        assert (actor.role, actor.store_id) == ("store", "S7")
        token_id = actor.id.removeprefix("tok_")
        revoked = runner.invoke(main, ["token", "revoke", token_id, "--data-dir", data], env=env)
        assert revoked.exit_code == 0, revoked.output
        with pytest.raises(Unauthorized):
            authenticate(engine, settings.secret_key(), f"Bearer {token}")
    finally:
        engine.dispose()


def test_cli_refuses_a_store_token_without_store(tmp_path, db_url):
    result = CliRunner().invoke(
        main,
        ["token", "create", "--role", "store", "--data-dir", str(tmp_path)],
        env={"DATABASE_URL": db_url},
    )
    assert result.exit_code == 2
    assert "needs --store" in result.output


def test_cli_revoke_of_unknown_token_fails(tmp_path, db_url):
    result = CliRunner().invoke(
        main,
        ["token", "revoke", "000000000000", "--data-dir", str(tmp_path)],
        env={"DATABASE_URL": db_url},
    )
    assert result.exit_code == 1
    assert "no live token" in result.output


def test_cli_purges_old_idempotency_records_only(tmp_path, db_url):
    from datetime import UTC, datetime, timedelta

    from anchoring.db import create_engine, write_transaction
    from ledger_service.idempotency import IdempotencyStore
    from ledger_service.schema import idempotency_keys

    engine = create_engine(db_url)
    try:
        db.upgrade(engine)
        now = datetime.now(UTC)
        for key, age, status in (("old", 10, 201), ("young", 1, 201), ("running", 10, None)):
            store = IdempotencyStore(engine, KEY, clock=lambda age=age: now - timedelta(days=age))
            with write_transaction(engine) as conn:
                assert store._reserve(conn, "tok_a", key, "h")
            if status:
                with engine.begin() as conn:
                    conn.execute(
                        idempotency_keys.update()
                        .where(idempotency_keys.c.key == key)
                        .values(status=status, response=b"x")
                    )
        result = CliRunner().invoke(
            main, ["token", "purge-keys", "--data-dir", str(tmp_path)], env={"DATABASE_URL": db_url}
        )
        assert result.exit_code == 0, result.output
        assert "Removed 1 " in result.output
        with engine.connect() as conn:
            left = set(conn.execute(sa.select(idempotency_keys.c.key)).scalars())
        assert left == {"young", "running"}
    finally:
        engine.dispose()
