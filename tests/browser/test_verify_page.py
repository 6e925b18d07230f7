"""A consumer verifies a card in a real browser against a real local chain.

anvil (node_modules/.bin) runs the chain; the anchoring worker deploys LedgerAnchor and
anchors the log; the Flask app serves on a free port; Playwright drives Debian's Chromium
(never a downloaded browser). The page must verify green; after one row of the log's
table is altered, the same page must turn red on the right check; served a bundle of an
older checkpoint than the contract's newest, it shows the freshness row amber. Screenshots
are kept under artifacts/browser/ (see conftest.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import axe_violations, blocking
from eth_account import Account

from anchoring import chain, checkpoints
from anchoring.db import read_transaction
from anchoring.issuer import IssuerDescriptor
from anchoring.keys import AnchorKey
from anchoring.node import free_port, start_anvil
from anchoring.schema import checkpoints as checkpoint_rows
from anchoring.schema import log_leaves
from anchoring.worker import Worker, WorkerConfig
from cardtrail.app import create_app
from ledger_service.actor import Actor
from ledger_service.config import Settings
from ledger_service.service import Ledger
from portal import lookup_cache

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


def _write_issuer(path: Path, chain_id: int, contract: str, rpc: str) -> None:
    descriptor = IssuerDescriptor(
        name_zh="浏览器测试发行方",
        name_en="Browser test issuer",
        chain_id=chain_id,
        contract=contract,
        deployment_block=0,
        api_origin="http://127.0.0.1",
        rpc_urls=(rpc,),
        serves="cardtrail-bundle/2",
    )
    path.write_text(json.dumps(descriptor.to_json()), encoding="utf-8")


@pytest.fixture
def portal(tmp_path, anvil, serve) -> Iterator[dict]:
    """The app on a free port, with a card whose two events are anchored on anvil, and the
    issuer descriptor of the contract the worker deployed (the page's pin)."""
    issuer = tmp_path / "issuer.json"
    # The contract exists once the worker has deployed it; the app checks at start that
    # the file is there, and re-reads it by content, so the real pin is written below.
    _write_issuer(issuer, 1, "0x" + "00" * 19 + "01", anvil)
    settings = Settings.from_env(
        tmp_path / "data",
        environ={
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cardtrail.db'}",
            "CHAIN_RPC_URL": anvil,
            "CARDTRAIL_PUBLIC_BASE_URL": "http://127.0.0.1",
            "CARDTRAIL_ISSUER_FILE": str(issuer),
        },
    )
    app = create_app(settings)
    rt = app.extensions["cardtrail"]
    ledger = Ledger(rt.engine, rt.secret_key)
    ledger.create_store(HQ, "S1", "上海南京路店", "east")
    number = ledger.issue_cards(HQ, "B1", [{"product": "Moutai 53% 500ml"}], active=True)["cards"][
        0
    ]["card_number"]
    ledger.claim(HQ, number, "holder-1")
    w3 = chain.connect(anvil)
    key = AnchorKey(Account.create())
    chain.fund_dev_account(w3, key.address)
    worker = Worker(rt.engine, w3, key, WorkerConfig(interval=0.0, dev_mode=True))
    _anchor_until(rt.engine, worker, 3)  # two events and the worker's CARD_MAP leaf
    with read_transaction(rt.engine) as conn:
        anchored = checkpoints.latest_anchored(conn)
    assert anchored is not None
    _write_issuer(issuer, anchored.chain_id, anchored.contract, anvil)
    try:
        yield {
            "url": serve(app),
            "number": number,
            "engine": rt.engine,
            "rpc": anvil,
            "ledger": ledger,
            "worker": worker,
            "contract": anchored.contract,
            "app": app,
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
        "issuer",
        "card",
        "commitment",
        "chain",
        "pending",
        "balance",
        "inclusion[0]",
        "inclusion[1]",
        "complete",
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
    # The card's head is unchanged, so the page and bundle built before are still in the
    # process's lookup cache: empty it, as a restart of the tampered server would.
    portal["app"].extensions.pop(lookup_cache._EXTENSION)
    red = _verify(chromium, url, screenshots / "verify-red.png")
    red.pop("*console errors*")
    failed = sorted(name for name, ok in red.items() if not ok)
    # The altered event is also the card's head: the card map no longer names it.
    assert failed == ["*verdict*", "complete", "inclusion[1]"], (red, screenshots)


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
    portal["ledger"].issue_cards(HQ, "B2", [{"product": "Longjing tea"}], active=True)
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


def _serving(body: str):
    """A route handler that answers with ``body``, as a lying server would."""

    def fulfill(route) -> None:
        route.fulfill(status=200, content_type="application/json", body=body)

    return fulfill


def test_the_pinned_page_refuses_a_foreign_contract_and_a_truncated_bundle(
    chromium, portal, screenshots
):
    """A lying server hands the page a bundle of its own: one naming a contract it
    deployed, or the genuine bundle with the card's last event left out. The page checks
    against the configured issuer's contract, whatever the bundle names."""
    url = f"{portal['url']}/c/{portal['number']}"
    bundle_path = f"/api/v1/public/cards/{portal['number']}/bundle"
    page = chromium.new_page()
    try:
        genuine = page.request.get(portal["url"] + bundle_path).json()
        foreign = json.loads(json.dumps(genuine))
        foreign["checkpoint"]["contract"] = "0x" + "ab" * 20
        truncated = json.loads(json.dumps(genuine))
        truncated["events"] = truncated["events"][:-1]
        outcomes = {}
        for name, served in (("foreign", foreign), ("truncated", truncated)):
            page.unroute("**/bundle*")
            page.route("**/bundle*", _serving(json.dumps(served)))
            page.goto(url)
            page.click("details.technical > summary")  # the verifier's output is folded
            page.wait_for_selector("#verdict[data-ok]", timeout=30_000)
            page.screenshot(path=str(screenshots / f"verify-{name}.png"), full_page=True)
            verdict = page.query_selector("#verdict")
            outcomes[name] = (
                verdict.get_attribute("data-ok"),
                "fail" in (verdict.get_attribute("class") or ""),
                sorted(
                    r.get_attribute("data-check")
                    for r in page.query_selector_all("#checks li[data-ok='false']")
                ),
            )
            if name == "foreign":
                issuer = page.query_selector("#checks li[data-check='issuer']").inner_text()
                assert portal["contract"] in issuer and "0x" + "ab" * 20 in issuer
        assert outcomes == {
            "foreign": ("false", True, ["anchor", "issuer"]),
            "truncated": ("false", True, ["complete"]),
        }, (outcomes, screenshots)
    finally:
        page.close()
