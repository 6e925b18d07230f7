"""Redemption codes: entropy, forgiving input, keyed hashes."""

from __future__ import annotations

import re

from ledger_service.domain.codes import (
    ALPHABET,
    BITS,
    code_hash,
    code_matches,
    generate_code,
    generate_codes,
    normalize_code,
)

KEY = bytes(range(32))


def test_codes_carry_at_least_50_bits_and_print_in_three_groups():
    assert BITS >= 50 and len(set(ALPHABET)) == 32
    codes = {generate_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
        assert normalize_code(code) is not None


def test_look_alikes_separators_and_case_are_forgiven():
    stored = code_hash(KEY, "7K30-Q9ZD-X21F")
    assert code_matches(KEY, "7k3o q9zd x2lf", stored)
    assert code_matches(KEY, "7K3OQ9ZDX2IF", stored)


def test_a_different_code_or_key_does_not_match():
    stored = code_hash(KEY, "7K30-Q9ZD-X21F")
    assert not code_matches(KEY, "7K30-Q9ZD-X21G", stored)
    assert not code_matches(bytes(32), "7K30-Q9ZD-X21F", stored)


def test_malformed_input_never_matches():
    stored = code_hash(KEY, "7K30-Q9ZD-X21F")
    for text in ("", "7K30-Q9ZD", "7K30-Q9ZD-X21F-0", "7K30-Q9ZD-X21U", None, 12):
        assert not code_matches(KEY, text, stored)  # type: ignore[arg-type]


def test_the_stored_hash_is_hmac_sha256_not_the_code():
    stored = code_hash(KEY, "7K30-Q9ZD-X21F")
    assert len(stored) == 32
    assert b"7K30" not in stored


def test_codes_made_in_bulk_are_distinct_codes_each_with_its_own_hash():
    made = generate_codes(KEY, 300)
    assert len({code for code, _ in made}) == 300
    for code, stored in made:
        assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
        assert stored == code_hash(KEY, code)
    assert generate_codes(KEY, 0) == []


def test_bulk_codes_use_every_symbol_of_the_alphabet():
    symbols = "".join(code for code, _ in generate_codes(KEY, 500)).replace("-", "")
    assert set(symbols) == set(ALPHABET)
