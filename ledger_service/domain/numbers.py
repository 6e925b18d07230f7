"""Card numbers: 16 random characters and a check character, typo-proof by construction.

The alphabet leaves out the characters people confuse (0/O, 1/I/L), which leaves 31
symbols — a prime. The check character makes the weighted sum of all 17 symbol values
(weights 17, 16, …, 1, check character last) divisible by 31. Because 31 is prime and the
weights are distinct and non-zero modulo 31, every single-character substitution and every
transposition of two characters (adjacent or not) changes the sum, so it is refused before
any database lookup.

    >>> from ledger_service.domain.numbers import format_card_number, normalize_card_number
    >>> number = normalize_card_number("2345 6789 abcd efgh 8")
    >>> number, format_card_number(number)
    ('23456789ABCDEFGH8', '2345-6789-ABCD-EFGH-8')
    >>> normalize_card_number("2345 6789 abcd efhg 8")
    Traceback (most recent call last):
    ...
    ledger_service.domain.numbers.CardNumberError: check character does not match: probably a typo
"""

from __future__ import annotations

import operator
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BODY_LENGTH = 16
LENGTH = BODY_LENGTH + 1
SEPARATORS = " -\t"
"""Characters people put between groups; :func:`normalize_card_number` drops them."""
_MODULUS = len(ALPHABET)
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_SEPARATORS = str.maketrans("", "", SEPARATORS)
_LOOK_ALIKES = "0O1IL"


class CardNumberError(ValueError):
    """Text is not a well-formed card number; the message says what is wrong.

    ``reason`` names the problem for pages that say it in the reader's language:
    ``not_text``, ``character`` (with ``position`` and ``character``), ``look_alike``
    (the same, for 0, O, 1, I or L), ``length`` (with ``length``) or ``check``.
    """

    def __init__(
        self, message: str, reason: str, *, position: int = 0, character: str = "", length: int = 0
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.position = position
        self.character = character
        self.length = length


def check_character(body: str) -> str:
    """The check character for a 16-character ``body`` of alphabet symbols."""
    total = sum((LENGTH - i) * _VALUE[ch] for i, ch in enumerate(body))
    # The check character carries weight 1, so it is whatever makes the total vanish.
    return ALPHABET[-total % _MODULUS]


_BODIES = _MODULUS**BODY_LENGTH


def generate_card_number() -> str:
    """A fresh random card number (about 79 bits), normalised form."""
    # One uniform draw spelled out in base 31: a tenth of the cost of 16 secrets.choice().
    value = secrets.randbelow(_BODIES)
    symbols = []
    total = 0
    for weight in range(LENGTH, 1, -1):
        value, digit = divmod(value, _MODULUS)
        symbols.append(ALPHABET[digit])
        total += weight * digit
    return "".join(symbols) + ALPHABET[-total % _MODULUS]


# Bytes below 248 (8 × 31) name a symbol each, uniformly; the others are dropped.
_SYMBOL_OF_BYTE = bytes(ord(ALPHABET[b % _MODULUS]) for b in range(248)) + bytes(8)
_UNUSED_BYTES = bytes(range(248, 256))
_WEIGHTS = range(LENGTH, 1, -1)


def generate_card_numbers(count: int) -> list[str]:
    """``count`` fresh random card numbers, as :func:`generate_card_number` draws them
    (every body symbol uniform and independent), at a third of the cost per number:
    random bytes map to symbols in one pass, rejecting the few that would bias them."""
    symbols = ""
    wanted = count * BODY_LENGTH
    while len(symbols) < wanted:
        # 1/32 of the bytes are rejected: a few percent more than needed nearly always do.
        drawn = secrets.token_bytes((wanted - len(symbols)) * 17 // 16 + 16)
        symbols += drawn.translate(_SYMBOL_OF_BYTE, _UNUSED_BYTES).decode("ascii")
    numbers = []
    for start in range(0, wanted, BODY_LENGTH):
        body = symbols[start : start + BODY_LENGTH]
        total = sum(map(operator.mul, _WEIGHTS, map(_VALUE.__getitem__, body)))
        numbers.append(body + ALPHABET[-total % _MODULUS])
    return numbers


def normalize_card_number(text: object) -> str:
    """The canonical form of ``text`` (upper case, no separators), or CardNumberError.

    Spaces, dashes and lower case are accepted; anything else is refused with a message
    a person at a counter can act on.
    """
    if not isinstance(text, str):
        raise CardNumberError("card number must be a string", "not_text")
    number = text.translate(_SEPARATORS).upper()
    for position, ch in enumerate(number, start=1):
        if ch not in _VALUE:
            look_alike = ch in _LOOK_ALIKES
            hint = " (card numbers never use 0, O, 1, I or L)" if look_alike else ""
            raise CardNumberError(
                f"character {position} {ch!r} is not used in card numbers{hint}",
                "look_alike" if look_alike else "character",
                position=position,
                character=ch,
            )
    if len(number) != LENGTH:
        raise CardNumberError(
            f"card number has {len(number)} characters, want {LENGTH}",
            "length",
            length=len(number),
        )
    if check_character(number[:BODY_LENGTH]) != number[BODY_LENGTH]:
        raise CardNumberError("check character does not match: probably a typo", "check")
    return number


def format_card_number(number: str) -> str:
    """Group a normalised number for display: e.g. ``7KQM-R2WX-94HT-CN3P-V``."""
    return "-".join(number[i : i + 4] for i in range(0, len(number), 4))
