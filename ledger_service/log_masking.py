"""Card numbers out of logs: whoever reads an access log must not learn working numbers.

A card number is all a visitor needs to open its page, so the URLs that carry one
(``/c/<number>``, ``/api/v1/public/cards/<number>``, ``/lookup?number=…``, the console's
card routes) must not reach a log in clear. :func:`mask_card_numbers` replaces every run
of card-alphabet characters that could be a number — 16 or more symbols, with the
separators people and URLs put between them — by its first four and last two symbols.
The dev server (``cardtrail up``) and gunicorn (``cardtrail.access_log``) both use it.

    >>> from ledger_service.log_masking import mask_card_number, mask_card_numbers
    >>> mask_card_number("23456789ABCDEFGH8")
    '2345…H8'
    >>> mask_card_numbers("GET /c/2345-6789-abcd-efgh-8?x=1 HTTP/1.1")
    'GET /c/2345…H8?x=1 HTTP/1.1'
    >>> mask_card_numbers("GET /lookup?number=2345+6789+ABCD+EFGH+8 HTTP/1.1")
    'GET /lookup?number=2345…H8 HTTP/1.1'
    >>> mask_card_numbers("GET /?next=%2Fc%2F23456789ABCDEFGH8 HTTP/1.1")
    'GET /?next=%2Fc%2F2345…H8 HTTP/1.1'
    >>> mask_card_numbers("GET /c/2345 6789 ABCD EFGH 8 HTTP/1.1")
    'GET /c/2345…H8 HTTP/1.1'
    >>> mask_card_numbers("POST /api/v1/pickups/pk_9a3f5c7e8b2d4a6c/ready HTTP/1.1")
    'POST /api/v1/pickups/pk_9a3f5c7e8b2d4a6c/ready HTTP/1.1'

A pickup page's key and a gift link's token open their pages for good: they travel in a
header, and a client that still puts one in a URL is refused — but its request is logged
all the same, so :func:`mask_url_keys` blanks ``key`` and ``token`` query values.

    >>> from ledger_service.log_masking import mask_url_keys
    >>> mask_url_keys("GET /api/v1/customer/pickups/pk_1?key=9a3f5c7e&t=1 HTTP/1.1")
    'GET /api/v1/customer/pickups/pk_1?key=…&t=1 HTTP/1.1'
    >>> mask_url_keys("GET /?next=%2Fcustomer%2Fgifts%2Fgf_1%3Ftoken%3DAbC_-1 HTTP/1.1")
    'GET /?next=%2Fcustomer%2Fgifts%2Fgf_1%3Ftoken%3D… HTTP/1.1'
"""

from __future__ import annotations

import re

from ledger_service.domain.numbers import ALPHABET, BODY_LENGTH

SHOWN_FIRST = 4
SHOWN_LAST = 2
_SYMBOL = f"[{ALPHABET}{ALPHABET.lower()}]"
_SEPARATOR = r"(?:-|\+|%20| )"
# A 16-symbol body already gives the whole number away (its check character follows), so
# runs from 16 symbols up are masked. A run must stand on its own, so ids such as
# ``pk_…`` (hex after an underscore) and longer words are left alone; one may start right
# after a percent-escape (``?next=%2Fc%2F<number>``). A plain space
# separates only the printed groups of four: elsewhere it ends the run (``… HTTP/1.1``).
_CANDIDATE = re.compile(
    rf"(?:(?<![0-9A-Za-z_%])|(?<=%[0-9A-Fa-f]{{2}}))"
    rf"(?:{_SYMBOL}(?:(?:-|\+|%20)?{_SYMBOL}){{{BODY_LENGTH - 1},}}"
    rf"|{_SYMBOL}{{4}}(?: {_SYMBOL}{{4}}){{3}}(?: {_SYMBOL})?)"
    rf"(?![0-9A-Za-z_])"
)
_NOT_SYMBOL = re.compile(_SEPARATOR)
_URL_KEY = re.compile(r"((?:[?&;]|%3F|%26)(?:key|token)(?:=|%3D))[^&;#\s\"%]+", re.IGNORECASE)


def mask_card_number(number: str) -> str:
    """``number`` (with or without separators) as its first four and last two symbols."""
    symbols = _NOT_SYMBOL.sub("", number).upper()
    return f"{symbols[:SHOWN_FIRST]}…{symbols[-SHOWN_LAST:]}"


def mask_card_numbers(text: str) -> str:
    """``text`` with everything shaped like a card number masked (see the module doc)."""
    return _CANDIDATE.sub(lambda match: mask_card_number(match.group()), text)


def mask_url_keys(text: str) -> str:
    """``text`` with the values of ``key`` and ``token`` query parameters blanked."""
    return _URL_KEY.sub(r"\1…", text)
