"""Fixtures for the browser tests: Debian's Chromium through Playwright, the app on a free
port, the demo merchant without a chain, and a folder for screenshots.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium``. Screenshots go
to ``artifacts/browser/<test>/`` and, for the phone shots of test_screenshots.py, to
``artifacts/screenshots/`` (both git-ignored) so they survive the run for people to look at.
Only tests marked ``node`` start a chain (see test_verify_page.py); ``demo_site`` needs none.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from anchoring.db import read_transaction
from cardtrail.app import create_app
from ledger_service import demo
from ledger_service.auth import create_token
from ledger_service.config import Settings
from ledger_service.schema import pickups

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
# Screenshots kept for people to look at (git-ignored), one file per page, phone and language.
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Enough demo cards for every state and full dashboard tables, few enough to seed in seconds.
DEMO_CARDS = 40
# Where the demo's card pages tell the browser to find the chain: the discard port, where
# nothing answers, so the in-browser verifier fails the same way on every machine.
NO_CHAIN = "http://127.0.0.1:9"
# The Accept-Language header each language's visitor sends.
LANGUAGES = {"zh-CN": "zh-CN,zh;q=0.9,en;q=0.5", "en": "en-US,en;q=0.9"}

# The pages every browser check walks (accessibility, phone layout, screenshots):
# name: (console role signed in, or None; path, with {STATE} for the demo's card in STATE).
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
PHONES = {"360x740": (360, 740), "390x844": (390, 844)}


# The fixtures of this folder that start a chain node (test_verify_page.py's anvil).
CHAIN_FIXTURES = frozenset({"anvil"})
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items) -> None:
    """Refuse a browser test that starts a chain without the ``node`` mark, so that
    ``-m "not node"`` runs never need one."""
    unmarked = [
        item.nodeid
        for item in items
        if HERE in Path(item.path).resolve().parents
        and CHAIN_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("node") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"these tests start a chain but are not marked node: {unmarked}")


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """One headless Chromium for the session (Playwright ``Browser``)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve a Flask app on 127.0.0.1 (a port the OS picks) in a thread; yields its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-web", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], str]]:
    """Serve Flask apps for one test; ``serve(app)`` returns the app's URL."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(serving(app))


@dataclass(frozen=True)
class DemoSite:
    """The demo merchant served on a free port: its URL, example cards and console tokens."""

    url: str
    cards: dict[str, str]
    """A card number per card state (ISSUED, REDEEMED, BLOCKED, ...)."""
    hq_token: str
    store_token: str
    """A token of the store with the most pickups waiting at its counter."""


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory) -> Iterator[DemoSite]:
    """The app with a small demo merchant (every card state, stores, anomalies), once per
    session. No chain: the events stay pending and the card pages' verifier finds no node."""
    folder = tmp_path_factory.mktemp("demo")
    settings = Settings.from_env(
        folder / "data",
        environ={
            "DATABASE_URL": f"sqlite:///{folder / 'cardtrail.db'}",
            "CARDTRAIL_PUBLIC_RPC_URL": NO_CHAIN,
        },
    )
    # Every test opens card pages from the one address: the public rate limits would bite.
    app = create_app(
        settings,
        {"PUBLIC_RATE_LIMIT_PER_IP": None, "PUBLIC_RATE_LIMIT_PER_CLIENT_CARD": None},
    )
    rt = app.extensions["cardtrail"]
    summary = demo.seed_runtime(rt, cards=DEMO_CARDS)
    try:
        with serving(app) as url:
            yield DemoSite(
                url=url,
                cards={card.state: card.card_number for card in summary.examples},
                hq_token=create_token(rt.engine, rt.secret_key, "hq").token,
                store_token=create_token(
                    rt.engine, rt.secret_key, "store", _busiest_counter(rt.engine)
                ).token,
            )
    finally:
        rt.engine.dispose()


@pytest.fixture
def screenshots(request) -> Path:
    """This test's screenshot folder under artifacts/browser/ (emptied first)."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def _busiest_counter(engine) -> str:
    """The store with the most pickups waiting (so its counter shows their table)."""
    waiting = (
        sa.select(pickups.c.store_id)
        .where(pickups.c.state.in_(["PICKUP_REQUESTED", "PICKUP_READY"]))
        .where(pickups.c.store_id.is_not(None))
        .group_by(pickups.c.store_id)
        .order_by(sa.func.count().desc(), pickups.c.store_id)
        .limit(1)
    )
    with read_transaction(engine) as conn:
        store = conn.execute(waiting).scalar_one_or_none()
    assert store is not None, "the demo left no pickup waiting at a store"
    return store


def rendering_fonts(page, selector: str) -> list[str]:
    """The font families Chromium actually draws the text of ``selector`` (its own text
    nodes) with, as the browser's DevTools protocol reports them."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        return [font["familyName"] for font in fonts]
    finally:
        cdp.detach()


BLOCKING_IMPACTS = ("serious", "critical")
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
}"""


def axe_violations(page) -> list[dict]:
    """axe-core's accessibility violations on ``page`` as it is now: id, impact, help and the
    first few offending elements of each. axe's script is added to the page, so the page's
    context must bypass its Content-Security-Policy (``bypass_csp=True``)."""
    if not AXE_SCRIPT.is_file():
        pytest.fail(f"{AXE_SCRIPT} is missing: install the npm packages (make install)")
    page.add_script_tag(path=str(AXE_SCRIPT))
    return page.evaluate(RUN_AXE)


def blocking(violations: list[dict]) -> list[dict]:
    """The violations no page may have: serious and critical ones."""
    return [v for v in violations if v["impact"] in BLOCKING_IMPACTS]


def sign_in(page, url: str, token: str) -> None:
    """Sign in to the console at ``url`` with an API token, through the login form."""
    page.goto(f"{url}/console/")
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_url(re.compile(r".*/console/(dashboard|counter)$"))


@pytest.fixture(scope="session")
def console_sessions(chromium, demo_site) -> Callable[[str], dict]:
    """``console_sessions(role)``: signed-in browser state (cookies) for the demo's ``hq`` or
    ``store`` token, signed in on first use only (public-page runs never sign in)."""
    tokens = {"hq": demo_site.hq_token, "store": demo_site.store_token}
    states: dict[str, dict] = {}

    def state(role: str) -> dict:
        if role not in states:
            context = chromium.new_context()
            try:
                sign_in(context.new_page(), demo_site.url, tokens[role])
                states[role] = context.storage_state()
            finally:
                context.close()
        return states[role]

    return state


@pytest.fixture
def open_page(chromium) -> Iterator[Callable[..., object]]:
    """``open_page(language, phone)``: a page in a fresh context that sends the language's
    Accept-Language header, on the phone's viewport (a name in :data:`PHONES`, or None for a
    desktop window). ``signed_in`` takes a :func:`console_sessions` state."""
    contexts = []

    def open_(language: str, phone: str | None, *, signed_in: dict | None = None, **options):
        width, height = PHONES[phone] if phone else (1200, 900)
        context = chromium.new_context(
            viewport={"width": width, "height": height},
            is_mobile=phone is not None,
            has_touch=phone is not None,
            locale=language,
            extra_http_headers={"Accept-Language": LANGUAGES[language]},
            storage_state=signed_in,
            **options,
        )
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()
