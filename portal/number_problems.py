"""What is wrong with a typed card number, in the reader's language.

The domain (:mod:`ledger_service.domain.numbers`) says it in English for the API and the
command line, and names the problem in ``CardNumberError.reason``; pages say it here.
"""

from __future__ import annotations

from flask_babel import gettext as _

from ledger_service.domain.numbers import LENGTH, CardNumberError


def number_problem(exc: CardNumberError) -> str:
    """A sentence a person at a counter or on a phone can act on."""
    if exc.reason == "look_alike":
        return str(
            _(
                "character %(position)d “%(character)s” is not used in card numbers "
                "(they never use 0, O, 1, I or L)",
                position=exc.position,
                character=exc.character,
            )
        )
    if exc.reason == "character":
        return str(
            _(
                "character %(position)d “%(character)s” is not used in card numbers",
                position=exc.position,
                character=exc.character,
            )
        )
    if exc.reason == "length":
        return str(
            _(
                "it has %(length)d characters, a card number has %(want)d",
                length=exc.length,
                want=LENGTH,
            )
        )
    if exc.reason == "check":
        return str(_("its check character does not match: probably a typo"))
    return str(_("it is not text"))


def not_a_card_number(exc: CardNumberError) -> str:
    """The whole sentence: that the text is no card number, and why."""
    return str(_("This is not a valid card number: %(reason)s.", reason=number_problem(exc)))
