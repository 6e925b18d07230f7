"""A consumer verifies a card in a real browser against a real local chain.

anvil (node_modules/.bin) runs the chain; the anchoring worker deploys LedgerAnchor and
anchors the log; the Flask app serves on a free port; Playwright drives Debian's Chromium
(never a downloaded browser). The page must verify green; after one row of the log's
table is altered, the same page must turn red on the right check; served a bundle of an
older checkpoint than the contract's newest, it shows the freshness row amber. Screenshots
are kept under artifacts/browser/ (see conftest.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from conftest import axe_violations, blocking
from eth_account import Account

from anchoring import chain, checkpoints
from anchoring.db import read_transaction
from anchoring.keys import AnchorKey
from anchoring.node import free_port, start_anvil
from anchoring.schema import checkpoints as checkpoint_rows
from anchoring.schema import log_leaves
from anchoring.worker import Worker, WorkerConfig
from cardtrail.app import create_app
from ledger_service.actor import Actor
from ledger_service.config import Settings
from ledger_service.service import Ledger

pytestmark = [pytest.mark.browser, pytest.mark.node]

HQ = Actor("hq", "tok_browser")


@pytest.fixture(scope="module")
def anvil(tmp_path_factory) -> Iterator[str]:
    """A local anvil node; its RPC URL."""
    node = start_anvil(free_port(), log_path=tmp_path_factory.mktemp("anvil") / "anvil.log")
    try:
        yield node.url
    finally:
        node.stop()


@pytest.fixture
def portal(tmp_path, anvil, serve) -> Iterator[dict]:
    """The app on a free port, with a card whose two events are anchored on anvil."""
    settings = Settings.from_env(
        tmp_path / "data",
        environ={
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cardtrail.db'}",
            "CHAIN_RPC_URL": anvil,
            "CARDTRAIL_PUBLIC_BASE_URL": "http://127.0.0.1",
        },
    )
    app = create_app(settings)
    rt = app.extensions["cardtrail"]
    ledger = Ledger(rt.engine, rt.secret_key)
    ledger.create_store(HQ, "S1", "上海南京路店", "east")
    number = ledger.issue_cards(HQ, "B1", [{"product": "Moutai 53% 500ml"}])["cards"][0][
        "card_number"
    ]
    ledger.claim(HQ, number, "holder-1")
    w3 = chain.connect(anvil)
    key = AnchorKey(Account.create())
    chain.fund_dev_account(w3, key.address)
    worker = Worker(rt.engine, w3, key, WorkerConfig(interval=0.0, dev_mode=True))
    _anchor_until(rt.engine, worker, 3)  # two events and the worker's CARD_MAP leaf
    try:
        yield {
            "url": serve(app),
            "number": number,
            "engine": rt.engine,
            "rpc": anvil,
            "ledger": ledger,
            "worker": worker,
        }
    finally:
        rt.engine.dispose()


def _anchor_until(engine, worker: Worker, size: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        worker.step()
        with read_transaction(engine) as conn:
            latest = checkpoints.latest_anchored(conn)
        if latest is not None and latest.checkpoint.tree_size == size:
            return
        assert time.monotonic() < deadline, "the worker did not anchor the log"
        time.sleep(0.1)


def _verify(browser, url: str, shot) -> dict[str, object]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(url)
        page.click("details.technical > summary")  # the verifier's output is in the folded details
        page.wait_for_selector("#verdict[data-ok]", timeout=30_000)
        page.screenshot(path=str(shot), full_page=True)
        checks = {
            row.get_attribute("data-check"): row.get_attribute("data-ok") == "true"
            for row in page.query_selector_all("#checks li")
        }
        checks["*verdict*"] = page.get_attribute("#verdict", "data-ok") == "true"
        checks["*console errors*"] = errors
        return checks
    finally:
        page.close()


def test_card_verifies_green_then_red_after_a_log_row_is_altered(chromium, portal, screenshots):
    url = f"{portal['url']}/c/{portal['number']}"
    green = _verify(chromium, url, screenshots / "verify-green.png")
    assert green.pop("*console errors*") == [], "the page logged errors (CSP or script)"
    assert set(green) == {
        "*verdict*",
        "format",
        "card",
        "commitment",
        "chain",
        "pending",
        "inclusion[0]",
        "inclusion[1]",
        "network",
        "anchor",
        "freshness",
    }, green
    assert all(green.values()), (green, screenshots)

    # The card's newest anchored event, rewritten in the database: its proof no longer holds.
    with portal["engine"].begin() as conn:
        leaf = conn.execute(
            sa.select(log_leaves.c.leaf_input).where(log_leaves.c.leaf_index == 1)
        ).scalar_one()
        conn.execute(
            log_leaves.update()
            .where(log_leaves.c.leaf_index == 1)
            .values(leaf_input=bytes(leaf).replace(b'"CLAIMED"', b'"VOIDED"'))
        )
    red = _verify(chromium, url, screenshots / "verify-red.png")
    red.pop("*console errors*")
    failed = sorted(name for name, ok in red.items() if not ok)
    assert failed == ["*verdict*", "inclusion[1]"], (red, screenshots)


def test_a_wrong_rpc_endpoint_fails_the_chain_checks_with_a_reason(chromium, portal, screenshots):
    page = chromium.new_page()
    try:
        page.goto(f"{portal['url']}/c/{portal['number']}")
        page.click("details.technical > summary")  # the verifier's output is in the folded details
        page.wait_for_selector("#verdict[data-ok='true']", timeout=30_000)
        page.fill("#rpc-url", f"http://127.0.0.1:{free_port()}")
        page.click("#rpc-form button")
        page.wait_for_selector("#verdict[data-ok='false']", timeout=30_000)
        page.screenshot(path=str(screenshots / "verify-wrong-rpc.png"), full_page=True)
        network = page.query_selector("#checks li[data-check='network']")
        assert network.get_attribute("data-ok") == "false"
        assert "could not ask the chain" in network.inner_text()
        anchor = page.query_selector("#checks li[data-check='anchor']")
        assert anchor.get_attribute("data-ok") == "false"
    finally:
        page.close()


def test_a_bundle_older_than_the_newest_checkpoint_shows_an_amber_freshness_row(
    chromium, portal, screenshots
):
    # The log grows and is anchored at size 5 (one event and a CARD_MAP leaf more); the
    # server then "forgets" that checkpoint and keeps serving the bundle of size 3, as a
    # lagging or lying server would.
    portal["ledger"].issue_cards(HQ, "B2", [{"product": "Longjing tea"}])
    _anchor_until(portal["engine"], portal["worker"], 5)
    with portal["engine"].begin() as conn:
        conn.execute(checkpoint_rows.delete().where(checkpoint_rows.c.tree_size > 3))
    # axe's script is added to the page: this context bypasses the page's CSP for it.
    context = chromium.new_context(bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(f"{portal['url']}/c/{portal['number']}")
        page.click("details.technical > summary")  # the verifier's output is in the folded details
        page.wait_for_selector("#verdict[data-ok]", timeout=30_000)
        page.screenshot(path=str(screenshots / "verify-stale.png"), full_page=True)
        verdict = page.query_selector("#verdict")
        assert verdict.get_attribute("data-ok") == "true"
        assert verdict.get_attribute("data-fresh") == "false"
        assert "not the newest checkpoint" in verdict.inner_text()
        row = page.query_selector("#checks li[data-check='freshness']")
        assert row.get_attribute("data-warning") == "true" and "warn" in row.get_attribute("class")
        assert "newer checkpoint (size 5" in row.inner_text()
        warned = [
            r.get_attribute("data-check")
            for r in page.query_selector_all("#checks li[data-warning='true']")
        ]
        assert warned == ["freshness"]
        # The amber verdict is readable (contrast) like the green and red ones.
        assert blocking(axe_violations(page)) == []
    finally:
        context.close()
