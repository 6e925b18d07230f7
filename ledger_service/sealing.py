"""Small secrets at rest: AES-256-GCM under a key derived from the server secret.

The same construction as the idempotency store's stored answers
(:mod:`ledger_service.idempotency`): a random 96-bit nonce, the tag and the ciphertext in
one value, and associated data naming what the value belongs to, so a sealed value moved
to another row does not open. A copy of the database alone reveals nothing.

    >>> sealed = seal(bytes(32), "address", "pk_1", "上海市 1 号")
    >>> unseal(bytes(32), "address", "pk_1", sealed)
    '上海市 1 号'
    >>> unseal(bytes(32), "address", "pk_2", sealed) is None
    True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from Crypto.Cipher import AES

_NONCE = 12
_TAG = 16


def _key(secret_key: bytes, purpose: str) -> bytes:
    return hmac.new(secret_key, b"cardtrail-sealed\0" + purpose.encode(), hashlib.sha256).digest()


def seal(secret_key: bytes, purpose: str, owner: str, text: str) -> bytes:
    """``text`` encrypted for ``purpose`` (e.g. "address") of the record ``owner``."""
    nonce = secrets.token_bytes(_NONCE)
    cipher = AES.new(_key(secret_key, purpose), AES.MODE_GCM, nonce=nonce)
    cipher.update(owner.encode())
    ciphertext, tag = cipher.encrypt_and_digest(text.encode("utf-8"))
    return nonce + tag + ciphertext


def unseal(secret_key: bytes, purpose: str, owner: str, sealed: bytes) -> str | None:
    """The text :func:`seal` sealed, or None when it does not open (another secret, row
    or purpose, or an edited value)."""
    nonce, tag = sealed[:_NONCE], sealed[_NONCE : _NONCE + _TAG]
    ciphertext = sealed[_NONCE + _TAG :]
    cipher = AES.new(_key(secret_key, purpose), AES.MODE_GCM, nonce=nonce)
    cipher.update(owner.encode())
    try:
        return cipher.decrypt_and_verify(ciphertext, tag).decode("utf-8")
    except ValueError:
        return None
