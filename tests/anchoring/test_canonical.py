"""The fast canonical encoder writes exactly what ``rfc8785`` writes, and refuses floats."""

from __future__ import annotations

import enum
import json

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from anchoring import canonical

MAX = canonical.MAX_SAFE_INTEGER

# Any character, lone surrogates included (both encoders must refuse those), with the
# awkward ones drawn often: controls, quotes, backslash, DEL, U+2028, the private use
# area (which UTF-16 orders after the surrogate pairs) and characters beyond U+FFFF.
awkward = st.sampled_from(
    ["\x00", "\x1f", "\x7f", '"', "\\", "\b", "\f", "\n", "\r", "\t", "\u2028", "é", "€"]
    + ["\ue000", "\uffff", "\ufb33", "\U0001f600", "\U00010000", "\ud800", "\udfff", "A", "1"]
)
chars = st.one_of(awkward, st.characters())
text = st.text(chars, max_size=8)
integers = st.one_of(st.integers(-MAX, MAX), st.integers(), st.sampled_from([MAX, MAX + 1, -MAX, -MAX - 1]))  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | integers | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=5),
    max_leaves=20,
)


def _encoded(encode, value):
    try:
        return encode(value)
    except ValueError:  # refused, whichever subclass says why
        return "refused"


@settings(max_examples=1500, deadline=None)
@given(json_values)
def test_equal_to_rfc8785_on_every_value_without_floats(value):
    expected = _encoded(rfc8785.dumps, value)
    assert _encoded(canonical.dumps, value) == expected
    if isinstance(expected, bytes):
        assert canonical.loads(expected) == value


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(text, st.integers(0, 9), min_size=2, max_size=8))
def test_keys_are_ordered_by_utf16_code_units(value):
    assert _encoded(canonical.dumps, value) == _encoded(rfc8785.dumps, value)


def test_rfc8785_key_ordering_example():
    # RFC 8785 section 3.2.3: the sorting example, keys ordered by UTF-16 code units.
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}  # fmt: skip
    encoded = canonical.dumps(value)
    assert encoded == rfc8785.dumps(value)
    assert [key for key in json.loads(encoded)] == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]  # fmt: skip


def test_controls_are_escaped_as_rfc8785_escapes_them():
    value = "".join(chr(c) for c in range(0x20)) + '"\\\x7f\u2028'
    assert canonical.dumps(value) == rfc8785.dumps(value)
    assert canonical.dumps("\x1f\n") == b'"\\u001f\\n"'


class Kind(enum.StrEnum):
    ISSUED = "ISSUED"


class Count(enum.IntEnum):
    TWO = 2


@pytest.mark.parametrize(
    "value",
    [
        {"type": Kind.ISSUED},  # str subclasses: written as their value, like rfc8785
        {"n": Count.TWO, "t": (1, "x", [True])},  # int subclass and tuple
        {"a": {"b": [{"c": None}]}},
        [],
        {},
        "",
        0,
    ],
)
def test_values_outside_the_fast_path_still_equal_rfc8785(value):
    assert canonical.dumps(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"price": 1.5},
        [1.0],
        {"nested": [{"x": float("nan")}]},
        (2.0,),
    ],
)
def test_floats_are_refused(value):
    with pytest.raises(canonical.FloatRefusedError, match="float"):
        canonical.dumps(value)


@pytest.mark.parametrize(
    "value",
    [{"big": MAX + 1}, {"small": -MAX - 1}, {1: "x"}, {"s": "\ud800"}, {"\udc00": 1}, object()],
)
def test_what_rfc8785_refuses_is_refused(value):
    # A ValueError either way (rfc8785 lets the codec's error out for a surrogate key).
    with pytest.raises(ValueError) as expected:
        rfc8785.dumps(value)
    with pytest.raises(expected.type):
        canonical.dumps(value)


def test_a_cyclic_value_is_refused_not_looped_over():
    value: list[object] = []
    value.append(value)
    with pytest.raises(RecursionError):
        canonical.dumps(value)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}',  # spacing
        b'{"b":1,"a":2}',  # key order
        b'{"a":1,"a":1}',  # a duplicate key
        b'"\\u0041"',  # an escape JCS does not write
        b'"\\ud800"',  # a lone surrogate
        b'"\\u00e9"',  # non-ASCII written as an escape
        b"1.0",
        b"1e2",
        b"-0",
        b"NaN",
        b"9007199254740992",
        b"{} ",
        b" {}",
        b"",
        b"\xff",
        b"[1,]",
    ],
)
def test_loads_refuses_what_is_not_canonical_in_the_domain(data):
    assert canonical.loads(data) is None


def test_loads_reads_non_ascii_and_orders_keys_by_utf16():
    value = {"\U0001f600": 1, "\ufb33": "é", "a": [None, False, -MAX]}
    data = rfc8785.dumps(value)
    assert canonical.loads(data) == value
    swapped = data.replace("\U0001f600".encode(), b"@@").replace("\ufb33".encode(), "\U0001f600".encode()).replace(b"@@", "\ufb33".encode())  # fmt: skip
    assert canonical.loads(swapped) is None


# JSON text around the canonical form: other spacing, key orders, escapes, floats.
json_texts = st.builds(
    lambda value, sort, ascii_only, spaced: json.dumps(
        value,
        sort_keys=sort,
        ensure_ascii=ascii_only,
        separators=(", ", ": ") if spaced else (",", ":"),
    ).encode("utf-8", "surrogatepass"),
    st.recursive(
        st.none() | st.booleans() | integers | text | st.floats(allow_nan=False),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=5),
        max_leaves=20,
    ),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(json_texts, st.binary(max_size=40)))
def test_loads_answers_as_the_reference_decoder_does(data):
    assert canonical.loads(data) == canonical.loads_reference(data)


@pytest.mark.parametrize(
    "data", [b'{"a":1.5}', b'[1,{"b":[2,-0.25]}]', b"1e+16", b'{"a":[true,{"b":1.5}]}']
)
def test_loads_refuses_floats_written_canonically(data):
    assert canonical.loads(data) is None
