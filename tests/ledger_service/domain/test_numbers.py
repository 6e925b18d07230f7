"""Card numbers: the alphabet, the check character and the forgiving parser."""

from __future__ import annotations

import pytest

from ledger_service.domain.numbers import (
    ALPHABET,
    LENGTH,
    CardNumberError,
    check_character,
    format_card_number,
    generate_card_number,
    generate_card_numbers,
    normalize_card_number,
)

SAMPLES = [generate_card_number() for _ in range(20)]


def test_the_alphabet_has_no_look_alikes_and_a_prime_size():
    assert not set("0O1IL") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 31


def test_generated_numbers_are_valid_distinct_and_17_characters():
    assert len(set(SAMPLES)) == len(SAMPLES)
    for number in SAMPLES:
        assert len(number) == LENGTH
        assert normalize_card_number(number) == number


@pytest.mark.parametrize("number", SAMPLES[:5])
def test_every_single_character_substitution_is_caught(number):
    for position in range(LENGTH):
        for ch in ALPHABET:
            if ch != number[position]:
                typo = number[:position] + ch + number[position + 1 :]
                with pytest.raises(CardNumberError, match="probably a typo"):
                    normalize_card_number(typo)


@pytest.mark.parametrize("number", SAMPLES[:5])
def test_every_transposition_of_two_different_characters_is_caught(number):
    for i in range(LENGTH):
        for j in range(i + 1, LENGTH):
            if number[i] != number[j]:
                chars = list(number)
                chars[i], chars[j] = chars[j], chars[i]
                with pytest.raises(CardNumberError, match="probably a typo"):
                    normalize_card_number("".join(chars))


def test_spaces_dashes_and_lower_case_are_forgiven():
    number = SAMPLES[0]
    assert normalize_card_number(format_card_number(number).lower()) == number
    assert normalize_card_number(" ".join(number)) == number


def test_format_groups_by_four():
    assert format_card_number("23456789ABCDEFGH8") == "2345-6789-ABCD-EFGH-8"
    assert check_character("23456789ABCDEFGH") == "8"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2345-6789", "has 8 characters, want 17"),
        ("23456789ABCDEFGH89", "has 18 characters, want 17"),
        (
            "2345 6789 ABCD EFGO 8",
            r"'O' is not used in card numbers \(card numbers never use 0, O, 1, I or L\)",
        ),
        ("2345 6789 ABCD EFG# 8", "character 16 '#' is not used"),
        ("", "has 0 characters"),
    ],
)
def test_malformed_numbers_say_what_is_wrong(text, message):
    with pytest.raises(CardNumberError, match=message):
        normalize_card_number(text)


def test_card_number_errors_are_value_errors():
    with pytest.raises(ValueError):
        normalize_card_number(None)  # type: ignore[arg-type]


def test_numbers_made_in_bulk_are_valid_and_distinct():
    made = generate_card_numbers(2_000)
    assert len(set(made)) == 2_000
    assert all(normalize_card_number(number) == number for number in made)
    assert generate_card_numbers(0) == []


def test_bulk_numbers_use_every_symbol_of_the_alphabet_in_every_position():
    made = generate_card_numbers(2_000)
    for position in range(LENGTH - 1):
        assert {number[position] for number in made} == set(ALPHABET)
