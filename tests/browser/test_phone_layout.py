"""Phones first: no page scrolls sideways on a 360 or 390 px wide phone, in Chinese or English.

The pages that people open on a phone (the front page, a mistyped lookup, a card's page in
each of its common states) and the console's pages that staff open on one (sign-in, the
dashboard, the counter, a card's record) are loaded on each phone's viewport with each
language's Accept-Language header; the document must be no wider than the viewport. Long
card numbers, hashes and tables must wrap or scroll inside their own box instead.
"""

from __future__ import annotations

import pytest
from conftest import LANGUAGES, PHONES

pytestmark = pytest.mark.browser

# name: (console role signed in, or None; path, with {STATE} for the demo's card in STATE)
PAGES = {
    "home": (None, "/"),
    "lookup-error": (None, "/lookup?number=1234-5678"),
    "card-unused": (None, "/c/{ISSUED}"),
    "card-used": (None, "/c/{REDEEMED}"),
    "card-blocked": (None, "/c/{BLOCKED}"),
    "console-login": (None, "/console/login"),
    "console-dashboard": ("hq", "/console/dashboard"),
    "console-card": ("hq", "/console/cards?number={PICKUP_COMPLETED}"),
    "console-issue": ("hq", "/console/issue"),
    "console-counter": ("store", "/console/counter"),
    "serial-lookup": (None, "/serial?serial=MT-0000-NOPE"),
    "console-stores": ("hq", "/console/stores"),
    "console-tokens": ("hq", "/console/tokens"),
}

# The document's width and the elements sticking out past the phone's right edge (for the
# failure message). On a phone a too-wide page zooms out, widening window.innerWidth with it,
# so the page is measured against the phone's own width.
OVERFLOW = """(width) => {
  const wide = [...document.body.querySelectorAll("*")].filter(
    (e) => e.getBoundingClientRect().right > width + 0.5);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    wide: wide.slice(0, 8).map((e) => e.outerHTML.slice(0, 120)),
  };
}"""


def page_path(template: str, cards: dict[str, str]) -> str:
    """``template`` with each ``{STATE}`` replaced by the demo card in that state."""
    return template.format(**cards)


@pytest.mark.parametrize("language", sorted(LANGUAGES))
@pytest.mark.parametrize("phone", sorted(PHONES))
@pytest.mark.parametrize("name", list(PAGES))
def test_page_fits_the_phone_without_horizontal_scroll(
    name, phone, language, demo_site, console_sessions, open_page
):
    role, template = PAGES[name]
    page = open_page(language, phone, signed_in=console_sessions(role) if role else None)
    response = page.goto(demo_site.url + page_path(template, demo_site.cards))
    assert response is not None and response.status in (200, 422), response
    if name.startswith("card-"):
        # The in-browser verifier adds its checks; the page is measured once they are in.
        page.click("details.technical > summary")  # the verifier's output is in the folded details
        page.wait_for_selector("#verdict[data-ok]", timeout=15_000)
    width = PHONES[phone][0]
    measured = page.evaluate(OVERFLOW, width)
    assert measured["scrollWidth"] <= width, measured["wide"]
