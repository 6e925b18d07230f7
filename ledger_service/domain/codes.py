"""Redemption codes: the secret half of a card, shown once and stored as a keyed hash.

A code is 12 symbols of Crockford's base 32 (60 bits from :mod:`secrets`), printed as
three groups of four. Reading it back forgives case, separators and the usual look-alikes
(O→0, I/L→1). The database keeps only HMAC-SHA256 under the server secret, which lives
outside the database, so a stolen database cannot be searched offline for codes.

    >>> from ledger_service.domain.codes import code_hash, code_matches, normalize_code
    >>> key = bytes(32)
    >>> stored = code_hash(key, "7K3M-Q9ZD-X2HF")
    >>> code_matches(key, "7k3m q9zd x2hf", stored), code_matches(key, "7K3M-Q9ZD-X2HE", stored)
    (True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
BITS = LENGTH * 5
_TRANSLATE = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
# Domain separation: the same server secret also keys API token hashes.
_HASH_CONTEXT = b"cardtrail/redemption-code/v1\x00"


# A random byte's low five bits pick a symbol: 256 is a multiple of 32, so each of the
# 12 symbols is uniform and the code holds 60 random bits.
_SYMBOL_OF_BYTE = bytes(ord(ALPHABET[b & 31]) for b in range(256))


def _display(symbols: str) -> str:
    return f"{symbols[:4]}-{symbols[4:8]}-{symbols[8:]}"


def generate_code() -> str:
    """A fresh redemption code in display form (e.g. ``7KQM-R2WX-94HT``)."""
    return _display(secrets.token_bytes(LENGTH).translate(_SYMBOL_OF_BYTE).decode("ascii"))


def generate_codes(secret_key: bytes, count: int) -> list[tuple[str, bytes]]:
    """``count`` fresh codes in display form, each with its :func:`code_hash`.

    Bulk issuance makes ten thousand at a time: the symbols are drawn in one call and
    hashed as drawn, from one keyed HMAC state copied per code, which costs a third of
    generating each code and reading its display form back to hash it.
    """
    keyed = hmac.new(secret_key, _HASH_CONTEXT, hashlib.sha256)
    drawn = secrets.token_bytes(count * LENGTH).translate(_SYMBOL_OF_BYTE)
    out = []
    for start in range(0, count * LENGTH, LENGTH):
        symbols = drawn[start : start + LENGTH]
        digest = keyed.copy()
        digest.update(symbols)
        out.append((_display(symbols.decode("ascii")), digest.digest()))
    return out


def normalize_code(text: object) -> str | None:
    """The canonical 12 symbols of ``text``, or None when it cannot be a code."""
    if not isinstance(text, str):
        return None
    code = text.upper().translate(_TRANSLATE)
    if len(code) != LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


def code_hash(secret_key: bytes, code: str) -> bytes:
    """The keyed hash stored for ``code`` (any accepted spelling of it)."""
    canonical = normalize_code(code)
    if canonical is None:
        raise ValueError("not a redemption code")
    return hmac.digest(secret_key, _HASH_CONTEXT + canonical.encode("ascii"), hashlib.sha256)


def code_matches(secret_key: bytes, text: object, stored_hash: bytes) -> bool:
    """Whether ``text`` is the code behind ``stored_hash``, compared in constant time."""
    canonical = normalize_code(text)
    if canonical is None:
        return False
    return hmac.compare_digest(code_hash(secret_key, canonical), stored_hash)
