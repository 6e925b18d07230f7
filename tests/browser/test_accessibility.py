"""No serious or critical accessibility violations (axe-core) on the public card and lookup
pages and the console's pages, in Chinese and English, on a phone and on a desktop.

axe-core (pinned in package.json, installed by ``npm ci``) is loaded into each page from
node_modules: the tests drive Chromium from Python, so its JavaScript Playwright wrapper
(@axe-core/playwright) has no use here. The pages' Content-Security-Policy allows only their
own scripts, so the test's browser context bypasses it to add axe's.
"""

from __future__ import annotations

import re

import pytest
from conftest import LANGUAGES, axe_violations, blocking

pytestmark = pytest.mark.browser


# name: (console role signed in, or None; path, with {STATE} for the demo's card in STATE)
PAGES = {
    "home": (None, "/"),
    "lookup-error": (None, "/lookup?number=1234-5678"),
    "card-unused": (None, "/c/{ISSUED}"),
    "card-used": (None, "/c/{REDEEMED}"),
    "card-blocked": (None, "/c/{BLOCKED}"),
    "card-pickup": (None, "/c/{PICKUP_READY}"),
    "console-login": (None, "/console/login"),
    "console-dashboard": ("hq", "/console/dashboard"),
    "console-card": ("hq", "/console/cards?number={PICKUP_COMPLETED}"),
    "console-issue": ("hq", "/console/issue"),
    "console-counter": ("store", "/console/counter"),
    "serial-lookup": (None, "/serial?serial=MT-0000-NOPE"),
    "console-stores": ("hq", "/console/stores"),
    "console-tokens": ("hq", "/console/tokens"),
}

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("phone", ["390x844", None], ids=["phone", "desktop"])
@pytest.mark.parametrize("language", sorted(LANGUAGES))
@pytest.mark.parametrize("name", list(PAGES))
def test_page_has_no_serious_accessibility_violations(
    name, language, phone, demo_site, console_sessions, open_page
):
    role, template = PAGES[name]
    page = open_page(
        language, phone, signed_in=console_sessions(role) if role else None, bypass_csp=True
    )
    response = page.goto(demo_site.url + template.format(**demo_site.cards))
    assert response is not None and response.status in (200, 422), response
    if name.startswith("card-"):
        page.click("details.technical > summary")  # the verifier's output is in the folded details
        page.wait_for_selector("#verdict[data-ok]", timeout=15_000)
    assert blocking(axe_violations(page)) == []


@pytest.mark.parametrize("language", sorted(LANGUAGES))
@pytest.mark.parametrize(
    ("path", "chrome"), [("/", "header.site .tagline"), ("/console/login", "main h1")]
)
def test_html_lang_names_the_language_the_page_is_written_in(
    path, chrome, language, demo_site, open_page
):
    # The page's own wording (never merchant data such as store names) says which language
    # it came in; screen readers pick their voice from the lang attribute.
    page = open_page(language, None)
    page.goto(demo_site.url + path)
    written_in_chinese = HAN.search(page.inner_text(chrome)) is not None
    lang = page.get_attribute("html", "lang") or ""
    assert lang.lower().startswith("zh" if written_in_chinese else "en"), (lang, language)


def test_only_serious_and_critical_violations_count():
    impacts = ("critical", "serious", "moderate", "minor", None)
    found = [{"id": str(i), "impact": impact} for i, impact in enumerate(impacts)]
    assert [v["impact"] for v in blocking(found)] == ["critical", "serious"]
