"""API tokens and the :class:`~ledger_service.actor.Actor` behind a request.

A token reads ``ct_<id>_<secret>``: the 12-hex-digit ``id`` is public (it names the token
in logs, events and ``cardtrail token revoke``), the 160-bit ``secret`` is shown once when
the token is created and stored only as HMAC-SHA256 under the server secret, so a copy of
the database alone cannot be turned back into working tokens.

A token may carry a staff member's display name (``--name``): the console shows it
("SH01 · 张三"); events record only the token id (:func:`actor_id`), never the name.

A console sign-in opens a server-side session (:func:`open_session`): the browser keeps a
random session id, the database its SHA-256 and the token it stands for. It ends when it
is closed (sign-out), when it expires, or when its token is revoked.

    >>> from ledger_service.auth import parse_token
    >>> parse_token("ct_0123456789ab_" + "f" * 40).id
    '0123456789ab'
    >>> parse_token("Bearer nonsense") is None
    True
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import g, request
from sqlalchemy.engine import Engine

from anchoring.db import read_transaction, single_read, write_transaction
from ledger_service.actor import Actor, Role
from ledger_service.errors import Forbidden, Unauthorized
from ledger_service.runtime import runtime
from ledger_service.schema import api_tokens, console_sessions

TOKEN_ROLES: tuple[Role, ...] = ("hq", "store", "auditor")
_TOKEN = re.compile(r"ct_(?P<id>[0-9a-f]{12})_(?P<secret>[0-9a-f]{40})")
_BEARER = re.compile(r"Bearer +(?P<token>\S+) *", re.IGNORECASE)
_STORE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class TokenParts:
    """A token split into its public id and its secret (never printed)."""

    id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token: the only moment its full text exists outside the client."""

    id: str
    role: Role
    store_id: str | None
    token: str = field(repr=False)
    name: str | None = None


def parse_token(text: str) -> TokenParts | None:
    """Split ``ct_<id>_<secret>``; ``None`` when ``text`` is not shaped like a token."""
    match = _TOKEN.fullmatch(text)
    return TokenParts(match["id"], match["secret"]) if match else None


def token_hash(secret_key: bytes, token: str) -> str:
    """The stored form of a token: HMAC-SHA256 under the server secret, hex."""
    return hmac.new(
        secret_key, b"cardtrail-api-token\0" + token.encode(), hashlib.sha256
    ).hexdigest()


def actor_id(token_id: str) -> str:
    """The ``actor.id`` that events record for a token."""
    return f"tok_{token_id}"


NAME_LIMIT = 64
"""The longest display name a token may carry."""
_NAME = re.compile(r"[^\x00-\x1f\x7f]+")


def display_name(text: str | None) -> str | None:
    """A token's display name: stripped, 1 to :data:`NAME_LIMIT` printable characters, or
    None for none. Raises ``ValueError`` otherwise.

        >>> display_name("  张三 "), display_name(""), display_name(None)
        ('张三', None, None)
    """
    if text is None or not text.strip():
        return None
    name = text.strip()
    if len(name) > NAME_LIMIT or not _NAME.fullmatch(name):
        raise ValueError(f"a display name is 1 to {NAME_LIMIT} printable characters")
    return name


def staff_label(store_id: str | None, name: str | None, token_id: str) -> str:
    """How the console names whoever holds a token: "SH01 · 张三", else the token id.

    >>> staff_label("SH01", "张三", "tok_1"), staff_label(None, None, "tok_1")
    ('SH01 · 张三', 'tok_1')
    """
    return " · ".join(part for part in (store_id, name or token_id) if part)


def create_token(
    engine: Engine,
    secret_key: bytes,
    role: str,
    store_id: str | None = None,
    name: str | None = None,
) -> IssuedToken:
    """Create a token for ``role`` (a store token is bound to ``store_id``) and store its
    hash; ``name``: the staff member's display name, shown in the console only.

    Raises ``ValueError`` for an unknown role, a store token without a store, a store id
    on another role, or a malformed name.
    """
    name = display_name(name)
    if role not in TOKEN_ROLES:
        raise ValueError(f"unknown role {role!r}, want one of {', '.join(TOKEN_ROLES)}")
    if (role == "store") != (store_id is not None):
        raise ValueError("a store token needs --store, and only a store token takes one")
    if store_id is not None and not _STORE_ID.fullmatch(store_id):
        raise ValueError(f"malformed store id {store_id!r}")
    token_id = secrets.token_hex(6)
    token = f"ct_{token_id}_{secrets.token_hex(20)}"
    with write_transaction(engine) as conn:
        conn.execute(
            api_tokens.insert().values(
                id=token_id,
                role=role,
                store_id=store_id,
                secret_hash=token_hash(secret_key, token),
                created_at=datetime.now(UTC),
                name=name,
            )
        )
    return IssuedToken(id=token_id, role=role, store_id=store_id, token=token, name=name)


def rename_token(engine: Engine, token_id: str, name: str | None) -> bool:
    """Set (None: clear) the display name of a live token; False if there is none.

    Raises ``ValueError`` for a malformed name."""
    name = display_name(name)
    with write_transaction(engine) as conn:
        result = conn.execute(
            api_tokens.update()
            .where(
                api_tokens.c.id == token_id.removeprefix("tok_"), api_tokens.c.revoked_at.is_(None)
            )
            .values(name=name)
        )
    return result.rowcount == 1


def token_name(engine: Engine, token_id: str) -> str | None:
    """The display name of the token ``token_id`` (``tok_`` prefix allowed), if it has one."""
    with read_transaction(engine) as conn:
        name: str | None = conn.execute(
            sa.select(api_tokens.c.name).where(api_tokens.c.id == token_id.removeprefix("tok_"))
        ).scalar()
    return name


def list_tokens(engine: Engine) -> list[dict[str, object]]:
    """Every token, oldest first: id, role, store, display name, created and revoked times
    (never a secret or its hash)."""
    with read_transaction(engine) as conn:
        rows = conn.execute(
            sa.select(
                api_tokens.c.id,
                api_tokens.c.role,
                api_tokens.c.store_id,
                api_tokens.c.name,
                api_tokens.c.created_at,
                api_tokens.c.revoked_at,
            ).order_by(api_tokens.c.created_at, api_tokens.c.id)
        ).all()
    return [row._asdict() for row in rows]


def revoke_token(engine: Engine, token_id: str) -> bool:
    """Revoke a token by its id (``tok_`` prefix allowed); False if no live token has it."""
    token_id = token_id.removeprefix("tok_")
    with write_transaction(engine) as conn:
        result = conn.execute(
            api_tokens.update()
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
    return result.rowcount == 1


_live_token = sa.select(api_tokens.c.role, api_tokens.c.store_id, api_tokens.c.secret_hash).where(
    api_tokens.c.id == sa.bindparam("for_id"), api_tokens.c.revoked_at.is_(None)
)


def authenticate(engine: Engine, secret_key: bytes, header: str | None) -> Actor:
    """The actor of an ``Authorization: Bearer ct_…`` header, or :class:`Unauthorized`.

    Every failure gives the same answer, so a caller learns nothing about which tokens exist.
    """
    match = _BEARER.fullmatch(header or "")
    parts = parse_token(match["token"]) if match else None
    if parts is None:
        raise Unauthorized("send Authorization: Bearer <token>")
    with single_read(engine) as conn:
        row = conn.execute(_live_token, {"for_id": parts.id}).first()
    expected = row.secret_hash if row else "0" * 64
    presented = token_hash(secret_key, f"ct_{parts.id}_{parts.secret}")
    if not hmac.compare_digest(expected, presented) or row is None:
        raise Unauthorized("the token is unknown or revoked")
    return Actor(row.role, actor_id(parts.id), store_id=row.store_id)


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(b"cardtrail-console-session\0" + session_id.encode()).hexdigest()


def open_session(
    engine: Engine, token_id: str, lifetime: timedelta, now: datetime | None = None
) -> str:
    """Open a console session for a live token; returns the session id for the cookie.

    Expired sessions are swept out on the way, so the table holds only live ones.
    """
    now = now or datetime.now(UTC)
    session_id = secrets.token_urlsafe(32)
    with write_transaction(engine) as conn:
        conn.execute(console_sessions.delete().where(console_sessions.c.expires_at <= now))
        conn.execute(
            console_sessions.insert().values(
                id_hash=_session_hash(session_id),
                token_id=token_id.removeprefix("tok_"),
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return session_id


def session_actor(engine: Engine, session_id: str, now: datetime | None = None) -> Actor | None:
    """The actor of an open, unexpired session whose token is still live; else None."""
    now = now or datetime.now(UTC)
    with read_transaction(engine) as conn:
        row = conn.execute(
            sa.select(api_tokens.c.id, api_tokens.c.role, api_tokens.c.store_id)
            .join(console_sessions, console_sessions.c.token_id == api_tokens.c.id)
            .where(
                console_sessions.c.id_hash == _session_hash(session_id),
                console_sessions.c.expires_at > now,
                api_tokens.c.revoked_at.is_(None),
            )
        ).first()
    return Actor(row.role, actor_id(row.id), store_id=row.store_id) if row else None


def close_session(engine: Engine, session_id: str) -> None:
    """End a console session: its cookie, and every copy of it, stops working."""
    with write_transaction(engine) as conn:
        conn.execute(
            console_sessions.delete().where(console_sessions.c.id_hash == _session_hash(session_id))
        )


def current_token() -> str | None:
    """The bearer token text of the current request (only for keying its own records)."""
    match = _BEARER.fullmatch(request.headers.get("Authorization", ""))
    return match["token"] if match else None


def require(*roles: Role) -> Actor:
    """Authenticate the current request and check its role; returns the :class:`Actor`.

    Raises :class:`Unauthorized` (no or bad token), :class:`Forbidden` (role not in
    ``roles``) or :class:`RateLimited`.
    """
    rt = runtime()
    actor = authenticate(rt.engine, rt.secret_key, request.headers.get("Authorization"))
    limiter = rt.limits.api_per_token
    if limiter is not None:
        limiter.hit(actor.id)
    if actor.role not in roles:
        raise Forbidden(f"a {actor.role} token cannot do this; allowed: {', '.join(roles)}")
    g.actor = actor
    return actor
