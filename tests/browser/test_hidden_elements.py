"""What a page hides stays hidden: an element with the ``hidden`` attribute is not shown,
whatever display its styles give its kind (a ``section`` is a block box, a ``.stack`` a
flex column). Checked with scripts off, so that nothing has un-hidden it yet."""

from __future__ import annotations

import pytest
from conftest import PAGES

pytestmark = pytest.mark.browser

SHOWN_THOUGH_HIDDEN = """() => [...document.querySelectorAll("[hidden]")]
  .filter((e) => getComputedStyle(e).display !== "none")
  .map((e) => e.outerHTML.slice(0, 120))"""


@pytest.mark.parametrize("name", list(PAGES))
def test_an_element_marked_hidden_is_not_shown(name, demo_site, console_sessions, open_page):
    role, template = PAGES[name]
    signed_in = console_sessions(role) if role else None
    page = open_page("zh-CN", None, signed_in=signed_in, java_script_enabled=False)
    response = page.goto(demo_site.url + template.format(**demo_site.cards))
    assert response is not None and response.status in (200, 422), response
    assert page.evaluate(SHOWN_THOUGH_HIDDEN) == []
