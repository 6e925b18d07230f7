"""A mistyped card number is explained in the reader's language, on every page that reads one."""

from __future__ import annotations

import html

import pytest

from ledger_service.domain.numbers import (
    CardNumberError,
    generate_card_number,
    normalize_card_number,
)

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


def _typo() -> str:
    """A real card number with its last two body characters swapped (the check catches it)."""
    number = generate_card_number()
    swapped = number[:14] + number[15] + number[14] + number[16]
    if swapped == number:  # the two characters were equal: change one instead
        return _typo()
    return swapped


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "not_text"),
        ("2345-6789-ABCD-EFGH-0", "look_alike"),
        ("2345-6789-ABCD-EFGH-#", "character"),
        ("2345-6789", "length"),
    ],
)
def test_the_error_names_its_problem_for_the_pages(text, reason):
    with pytest.raises(CardNumberError) as caught:
        normalize_card_number(text)
    assert caught.value.reason == reason


def test_a_typo_is_named_a_check_character_problem():
    with pytest.raises(CardNumberError) as caught:
        normalize_card_number(_typo())
    assert caught.value.reason == "check"


def test_the_lookup_form_explains_a_typo_in_chinese(app):
    response = app.test_client().get(f"/lookup?number={_typo()}", headers=ZH)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "校验位不符，可能输错了" in body
    assert "check character" not in body


def test_the_lookup_form_explains_a_wrong_length_in_english(app):
    response = app.test_client().get("/lookup?number=2345-6789", headers=EN)
    body = html.unescape(response.get_data(as_text=True))
    assert "it has 8 characters, a card number has 17" in body


def test_the_card_page_names_a_look_alike_character_in_chinese(app):
    response = app.test_client().get("/c/2345-6789-ABCD-EFGH-0", headers=ZH)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 404
    assert "第 17 位的“0”不是卡号使用的字符（卡号不使用 0、O、1、I、L）" in body
