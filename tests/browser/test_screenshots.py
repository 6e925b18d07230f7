"""Screenshots of the pages people read on a phone, in Chinese and English, at 390 px.

They go to artifacts/screenshots/ (git-ignored), named ``<page>-390px-<language>.png``, for
people to look at after a run: the card page of a genuine unused card and of a used one, and
the console's counter. Each test also checks that the page shows what the shot is meant to.
"""

from __future__ import annotations

import re

import pytest
from conftest import LANGUAGES, SCREENSHOTS, rendering_fonts

pytestmark = pytest.mark.browser

PHONE = "390x844"
HAN = re.compile(r"[\u4e00-\u9fff]")


def shot_name(page: str, language: str) -> str:
    """The file a page's screenshot is saved as, e.g. ``card-used-390px-zh-CN.png``."""
    return f"{page}-390px-{language}.png"


@pytest.fixture(scope="module")
def shots_folder():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.mark.parametrize("language", sorted(LANGUAGES))
@pytest.mark.parametrize(
    ("name", "state", "status"),
    [
        ("card-unused", "ISSUED", "unused"),
        ("card-used", "REDEEMED", "used"),
    ],
)
def test_card_page_screenshot(name, state, status, language, demo_site, open_page, shots_folder):
    page = open_page(language, PHONE)
    page.goto(f"{demo_site.url}/c/{demo_site.cards[state]}")
    assert page.get_attribute("section.status", "data-status") == status
    page.click("details.technical > summary")  # the verifier's output is in the folded details
    page.wait_for_selector("#verdict[data-ok]", timeout=15_000)
    path = shots_folder / shot_name(name, language)
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_console_counter_screenshot(language, demo_site, console_sessions, open_page, shots_folder):
    page = open_page(language, PHONE, signed_in=console_sessions("store"))
    page.goto(f"{demo_site.url}/console/counter")
    # The counter waits for the scanner in the card number field.
    assert page.evaluate("document.activeElement.id") == "number"
    # The store's Chinese name is drawn with a CJK font, not as empty boxes.
    assert HAN.search(page.inner_text("main h1"))
    fonts = rendering_fonts(page, "main h1")
    assert any("CJK" in family for family in fonts), f"{fonts}: install fonts-noto-cjk"
    path = shots_folder / shot_name("console-counter", language)
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
