"""RFC 8785 (JCS) canonical JSON of the values the log holds, at the speed of ``json``.

The log's leaf inputs are the JCS bytes of its events. The ``rfc8785`` package is the
reference, but it is pure Python and writes one value at a time: bulk issuance and the
audit encode millions of events. :func:`dumps` gives the same bytes several times faster
for what events hold — objects with string keys, strings, integers, booleans, null and
arrays — by letting the C encoder of :mod:`json` (keys sorted, compact separators, raw
UTF-8) write them, which is exact for those values:

- strings: both escape ``"``, ``\\``, ``\\b \\f \\n \\r \\t`` and the other controls as
  ``\\u00xx`` (lower-case hex) and write everything else raw;
- integers within ±(2^53 − 1) are written as their decimal digits by both;
- keys: ``json`` sorts by code point, JCS by UTF-16 code unit. The two orders differ only
  between a character from U+E000 to U+FFFF and one beyond U+FFFF (a surrogate pair);
  objects whose keys hold a character from U+E000 up go to ``rfc8785``.

Everything outside that fast domain goes to ``rfc8785`` itself, so the output is always
its output: subclasses of ``str`` and ``int`` (enums), tuples, those keys, and the values
it refuses — integers beyond ±(2^53 − 1), lone surrogates, keys that are not strings —
are refused the same way (``rfc8785.CanonicalizationError``, a ``ValueError``).

One deliberate difference: **floats are refused** (:class:`FloatRefusedError`, also a
``rfc8785.CanonicalizationError``). Events never hold them; other languages format
them differently in practice, and ``1.0`` and ``1`` are the same JCS number, so an event
holding one could not be told from a changed one.

    >>> dumps({"b": [1, True, None], "a": "\\u00e9\\n", "\\U0001f600": 0, "\\ufb01": 1})
    b'{"a":"\\xc3\\xa9\\\\n","b":[1,true,null],"\\xf0\\x9f\\x98\\x80":0,"\\xef\\xac\\x81":1}'
    >>> dumps({"price": 1.5})
    Traceback (most recent call last):
    ...
    anchoring.canonical.FloatRefusedError: 1.5 is a float; the log holds no floats

:func:`loads` is the other direction for the audit: the value of a leaf input if those
bytes are exactly the canonical JSON of a value in the domain, else None. It decodes and
encodes again with ``orjson`` (under half the time of :func:`loads_reference`, the same
check by :mod:`json` and :func:`dumps`, whose answer it gives on every input).

    >>> loads(b'{"a":1,"b":"x"}')
    {'a': 1, 'b': 'x'}
    >>> loads(b'{"b":1,"a":2}') is None, loads(b'{"a": 1}') is None, loads(b'[1.0]') is None
    (True, True, True)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from json import decoder as json_decoder
from json import encoder as json_encoder
from typing import Any, cast

import orjson
import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer JCS writes exactly (its numbers are IEEE 754 doubles)."""

# The first character whose code point order differs from its UTF-16 order.
_FIRST_REORDERED = "\ue000"


class FloatRefusedError(rfc8785.CanonicalizationError):
    """A float inside a value to encode: the log holds none."""


def _not_json(value: object) -> object:
    # Unreachable through dumps (the domain check runs first); kept as the encoder's guard.
    raise TypeError(f"{type(value).__name__} is not in the fast JCS domain")


def _c_encoder() -> Callable[[object], str]:
    """The C encoder of :mod:`json`, built once: keys sorted, compact, raw UTF-8."""
    make = getattr(json_encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the accelerator: the same output, slower
        return json.JSONEncoder(
            sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_not_json
        ).encode
    # No circular-reference markers: a cyclic value never gets here (the domain check
    # recurses into it first and fails with RecursionError).
    strings = getattr(json_encoder, "c_encode_basestring", json_encoder.encode_basestring)
    # (markers, default, encoder, indent, key and item separators, sort_keys, skipkeys,
    # allow_nan): the arguments json.JSONEncoder passes for these options.
    encode = make(None, _not_json, strings, None, ":", ",", True, False, False)

    def run(value: object) -> str:
        return "".join(encode(value, 0))

    return cast(Callable[[object], str], run)


_encode = _c_encoder()


def _in_fast_domain(values: Any) -> bool:
    """True when the C encoder writes every value of ``values`` exactly as JCS does.

    Exact type tests on purpose: a ``str`` or ``int`` subclass (an enum) may write
    otherwise, and it goes to ``rfc8785``.
    """
    for value in values:
        kind = type(value)
        if kind is str or value is None or kind is bool:
            continue
        if kind is int:
            if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                continue
            return False
        if kind is dict:
            try:
                keys = "".join(value)
            except TypeError:  # a key that is not a string
                return False
            if not keys.isascii() and keys and max(keys) >= _FIRST_REORDERED:
                return False
            if not _in_fast_domain(value.values()):
                return False
            continue
        if kind is list:
            if not _in_fast_domain(value):
                return False
            continue
        return False
    return True


def _refuse_floats(value: object) -> None:
    if isinstance(value, float):
        raise FloatRefusedError(f"{value!r} is a float; the log holds no floats")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def dumps(value: object) -> bytes:
    """The RFC 8785 canonical JSON of ``value``, UTF-8: ``rfc8785.dumps`` without floats.

    Raises ``rfc8785.CanonicalizationError`` (a ``ValueError``) for what ``rfc8785``
    refuses and :class:`FloatRefusedError` for floats.
    """
    if _in_fast_domain((value,)):
        try:
            return _encode(value).encode()
        except UnicodeEncodeError:  # a lone surrogate: rfc8785 says what is wrong
            pass
    _refuse_floats(value)
    return rfc8785.dumps(cast(Any, value))


class _NotInDomain(Exception):
    """A number the log never holds, met while decoding."""


def _no_float(text: str) -> float:
    raise _NotInDomain(text)


def _safe_int(text: str) -> int:
    number = int(text)
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return number
    raise _NotInDomain(text)


# Decodes only what dumps can write: floats, NaN and the infinities stop it.
_decoder = json_decoder.JSONDecoder(
    parse_float=_no_float, parse_int=_safe_int, parse_constant=_no_float
)
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


def loads(data: bytes) -> Any | None:
    """The value whose canonical JSON is exactly ``data``; None when there is none.

    None for bytes that are not UTF-8 or not JSON, for values outside the log's domain
    (floats, integers beyond ±(2^53 − 1)) and for JSON that is not written canonically
    (spacing, key order, escapes, duplicate keys).

    The audit reads every leaf through it, so the common case runs in ``orjson``: decode,
    encode again (keys sorted, integers held to ±(2^53 − 1)) and compare. It writes
    strings and integers as JCS does and sorts keys by code point, which is JCS's UTF-16
    order unless a character from U+E000 up is among them. Bytes that may hold one (a
    UTF-8 lead byte from 0xEE) and bytes ``orjson`` refuses (not JSON, too deep, an
    integer out of range) take :func:`loads_reference`, the answer this one must equal.
    """
    if not data.isascii() and _REORDERABLE.search(data) is not None:
        return loads_reference(data)
    try:
        value = orjson.loads(data)
        again = orjson.dumps(value, option=_ORJSON_CANONICAL)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return loads_reference(data)
    # Equal bytes leave one thing to refuse: a float (orjson writes 1.5 back as it read it).
    return value if again == data and _holds_no_float((value,)) else None


_ORJSON_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
# A UTF-8 lead byte of a character from U+E000 up (0xF5 and above are never UTF-8).
_REORDERABLE = re.compile(b"[\xee-\xff]")


def _holds_no_float(values: Iterable[object]) -> bool:
    for value in values:
        kind = type(value)
        if kind is float:
            return False
        if kind is dict:
            if not _holds_no_float(cast(dict[str, object], value).values()):
                return False
        elif kind is list and not _holds_no_float(cast(list[object], value)):
            return False
    return True


def loads_reference(data: bytes) -> Any | None:
    """:func:`loads` by the standard library's decoder and :func:`dumps`: slower, and
    exact for every key order; the tests hold :func:`loads` to it."""
    try:
        text = data.decode()
        value, end = _scan(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError, _NotInDomain, RecursionError):
        return None
    if end != len(text):
        return None
    # Decoded JSON holds only the fast domain's types; ASCII text holds no key that
    # orders differently in UTF-16, so the C encoder alone is exact for it.
    try:
        again = _encode(value).encode() if data.isascii() else dumps(value)
    except ValueError:  # a lone surrogate written as an escape
        return None
    return value if again == data else None
