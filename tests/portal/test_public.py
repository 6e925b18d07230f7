"""The consumers' pages and public JSON, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from apptools import set_limits

from ledger_service.actor import Actor
from ledger_service.domain.numbers import check_character, format_card_number
from ledger_service.runtime import DEFAULT_PUBLIC_CLIENT_CARD_LIMIT
from portal.public import public_url, qr_svg

HQ = Actor("hq", "tok_hq_test")


def test_home_page_has_one_card_number_field(client):
    page = client.get("/").get_data(as_text=True)
    assert len(re.findall(r"<input\b", page)) == 1 and 'name="number"' in page


def test_lookup_normalises_spaces_dashes_and_lower_case(client, cards):
    number, _ = cards.issue()
    typed = format_card_number(number).lower().replace("-", " - ")
    response = client.get("/lookup", query_string={"number": typed})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/c/{number}")


def test_lookup_with_a_typo_says_so_and_escapes_the_input(client, cards):
    number, _ = cards.issue()
    # A transposition of two different characters is always caught by the check character.
    i = next(i for i in range(15) if number[i] != number[i + 1])
    swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
    response = client.get("/lookup", query_string={"number": swapped})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "probably a typo" in page
    evil = client.get("/lookup", query_string={"number": '"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in evil.get_data(as_text=True)
    assert "&lt;script&gt;" in evil.get_data(as_text=True)


def test_unknown_and_malformed_numbers_get_the_same_not_found(client, cards):
    number, _ = cards.issue()
    # Same check character, different body: a valid-looking number nobody issued.
    body = number[1:16] + number[0]
    unknown = body + check_character(body)
    pages = [client.get(f"/c/{n}") for n in (unknown, "NOT-A-NUMBER")]
    assert [p.status_code for p in pages] == [404, 404]
    for page in pages:
        assert 'data-status="not_found"' in page.get_data(as_text=True)
    api = client.get(f"/api/v1/public/cards/{unknown}")
    assert api.status_code == 404 and api.json["code"] == "CARD_NOT_FOUND"


def test_genuine_unused_card_page_shows_story_status_qr_and_verifier(client, cards):
    number, _ = cards.issue(product="Longjing tea gift box")
    cards.anchor()
    page = client.get(f"/c/{number.lower()}").get_data(as_text=True)
    assert 'data-status="unused"' in page and "Genuine and unused" in page
    assert "Longjing tea gift box" in page and 'data-type="ISSUED"' in page
    assert f'src="/c/{number}/qr.svg"' in page
    assert f'data-bundle-url="/api/v1/public/cards/{number}/bundle"' in page
    assert re.search(r'data-root-at-selector="0x[0-9a-f]{8}"', page)
    # The freshness check's eth_call and log topic, which the browser cannot hash itself.
    assert 'data-latest-checkpoint-selector="0x907c0f92"' in page
    assert re.search(r'data-anchored-topic="0x[0-9a-f]{64}"', page)
    assert "<noscript>" in page and "not an independent check" in page
    assert '<script src="/assets/verify.js">' in page


def test_the_card_page_holds_the_balance_section_the_browser_fills(client, cards):
    number, _ = cards.issue()
    page = client.get(f"/c/{number}").get_data(as_text=True)
    # Hidden until verify.js has checked a history with value events.
    assert '<section id="balance" class="balance" hidden' in page
    assert 'id="balance-history"' in page and 'id="balance-now"' in page
    # A card without value events: the server's own check lists no balance either.
    assert "Balance history, as this server checked it" not in page


def test_without_javascript_the_page_lists_the_server_checked_balance(client, cards, monkeypatch):
    import dataclasses

    from anchoring.bundle import Balance, BalanceStep
    from portal import bundles

    steps = (
        BalanceStep(1, 4, "ACTIVATED", 50000, 50000, False),
        BalanceStep(2, 5, "REDEEMED", -1250, 48750, True),
    )
    real = bundles.verify_bundle

    def with_balance(*args, **kwargs):
        report = real(*args, **kwargs)
        return dataclasses.replace(report, balance=Balance("stored_value", "CNY", steps))

    monkeypatch.setattr(bundles, "verify_bundle", with_balance)
    number, _ = cards.issue()
    page = client.get(f"/c/{number}").get_data(as_text=True)
    listed = page[page.index("Balance history, as this server checked it") :]
    assert re.search(r'data-seq="1" data-pending="false">[^<]*balance 500\.00 CNY', listed)
    assert re.search(r'data-seq="2" data-pending="true">Redeemed:\s*balance 487\.50 CNY', listed)
    assert "not yet proven: recorded, not anchored yet" in listed


def test_balance_text_shows_minor_units_with_the_currency_or_uses(app):
    from anchoring.bundle import Balance
    from portal.public import balance_text

    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert balance_text(Balance("stored_value", "CNY", ()), 123405) == "1234.05 CNY"
        assert balance_text(Balance("stored_value", None, ()), -7) == "−0.07"
        assert balance_text(Balance("count", None, ()), 1) == "1 use"
        assert balance_text(Balance("count", None, ()), 9) == "9 uses"


def test_redeemed_card_is_used_and_names_the_store(client, cards):
    store = cards.store("S7", "Beijing <Wangfujing> & Co")
    number, code = cards.issue()
    cards.ledger.redeem(HQ, number, code, store_id=store)
    cards.anchor()
    page = client.get(f"/c/{number}").get_data(as_text=True)
    assert 'data-status="used"' in page
    assert "at Beijing &lt;Wangfujing&gt; &amp; Co" in page
    body = client.get(f"/api/v1/public/cards/{number}").json
    assert body["status"] == "used"
    assert body["events"][-1]["type"] == "REDEEMED"
    assert body["events"][-1]["store_name"] == "Beijing <Wangfujing> & Co"


def test_pickup_progress_is_shown_step_by_step(client, cards):
    store = cards.store()
    number, code = cards.issue()
    cards.ledger.claim(HQ, number, "holder-1")
    pickup = cards.ledger.request_pickup(HQ, number, "store", code, store_id=store)
    cards.ledger.pickup_ready(HQ, pickup["pickup_id"])
    page = client.get(f"/c/{number}").get_data(as_text=True)
    steps = re.findall(r'<li class="(done|todo)">([^<]+)</li>', page)
    assert steps == [
        ("done", "Pickup requested"),
        ("done", "Ready for pickup"),
        ("todo", "Pickup completed"),
    ]
    assert 'data-status="used"' in page


@pytest.mark.parametrize(("command", "status"), [("void", "voided"), ("block", "blocked")])
def test_voided_and_blocked_cards_say_so(client, cards, command, status):
    number, _ = cards.issue()
    getattr(cards.ledger, command)(HQ, number, "reported stolen")
    assert client.get(f"/api/v1/public/cards/{number}").json["status"] == status


def test_events_after_the_checkpoint_are_marked_pending(client, cards):
    number, _ = cards.issue()
    cards.anchor()
    cards.ledger.claim(HQ, number, "holder-1")
    page = client.get(f"/c/{number}").get_data(as_text=True)
    issued = re.search(r'<li class="event (\w+)" data-type="ISSUED"', page)
    claimed = re.search(r'<li class="event (\w+)" data-type="CLAIMED"', page)
    assert issued[1] == "anchored" and claimed[1] == "pending"
    assert [e["pending"] for e in client.get(f"/api/v1/public/cards/{number}").json["events"]] == [
        False,
        True,
    ]


def test_public_json_holds_no_holder_data(client, cards):
    number, _ = cards.issue(holder_ref="alice@example.com")
    body = client.get(f"/api/v1/public/cards/{number}")
    text = body.get_data(as_text=True)
    assert body.status_code == 200 and "alice" not in text
    assert set(body.json) >= {"card_number", "status", "events"}
    assert set(body.json["events"][0]) == {
        "seq",
        "leaf_index",
        "type",
        "occurred_at",
        "store_id",
        "store_name",
        "pending",
    }


def test_qr_code_encodes_the_card_page_url(client, cards):
    number, _ = cards.issue()
    response = client.get(f"/c/{number.lower()}/qr.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.data.startswith(b"<svg") and number.encode() in response.data
    expected = qr_svg(f"http://127.0.0.1:8000/c/{number}", f"CardTrail {number}")
    assert response.data == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "localhost:5000"},
        {"Host": "127.0.0.1:9999", "X-Forwarded-Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    ],
)
def test_the_request_s_host_never_changes_what_the_qr_code_encodes(app, client, cards, headers):
    # Development: the base URL is the local `cardtrail up` address; loopback names are
    # trusted hosts, so these requests are answered, and must still not steer the QR.
    number, _ = cards.issue()
    response = client.get(f"/c/{number}/qr.svg", headers=headers)
    assert response.status_code == 200
    assert response.data == qr_svg(f"http://127.0.0.1:8000/c/{number}", f"CardTrail {number}")
    with app.test_request_context(f"/c/{number}", headers=headers):
        assert public_url(number) == f"http://127.0.0.1:8000/c/{number}"


@pytest.mark.parametrize("path", ["/", "/c/{n}", "/c/{n}/qr.svg", "/api/v1/public/cards/{n}"])
def test_a_request_naming_a_foreign_host_is_refused(client, cards, path):
    number, _ = cards.issue()
    response = client.get(path.format(n=number), headers={"Host": "evil.example"})
    assert response.status_code == 400 and b"<svg" not in response.data


def test_security_headers_and_csp_admit_the_rpc_url(client):
    headers = client.get("/").headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    connect = re.search(r"connect-src ([^;]+)", csp)[1].split()
    assert "http://127.0.0.1:8545" in connect
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in csp


def test_lookups_past_the_per_client_limit_get_429_with_retry_after(app, client, cards):
    number, _ = cards.issue()
    set_limits(app, public_per_ip=(3, 60.0))
    answers = [client.get(f"/c/{number}") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    page = client.get(f"/c/{number}")
    assert page.status_code == 429 and int(page.headers["Retry-After"]) >= 1
    api = client.get(f"/api/v1/public/cards/{number}/bundle")
    assert api.status_code == 429 and api.mimetype == "application/problem+json"
    assert api.json["code"] == "RATE_LIMITED" and "Retry-After" in api.headers
    other = client.get(f"/c/{number}", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200


def test_one_client_is_limited_per_card_and_other_clients_are_not(app, client, cards):
    number, _ = cards.issue()
    other_card, _ = cards.issue()
    set_limits(app, public_per_client_card=(2, 60.0))
    mine = [client.get(f"/api/v1/public/cards/{number}").status_code for _ in range(3)]
    assert mine == [200, 200, 429]
    assert client.get(f"/c/{number}").status_code == 429
    assert client.get(f"/api/v1/public/cards/{other_card}").status_code == 200
    stranger = client.get(
        f"/api/v1/public/cards/{number}", environ_base={"REMOTE_ADDR": "10.0.0.7"}
    )
    assert stranger.status_code == 200


def test_many_addresses_hammering_one_card_do_not_lock_out_its_buyer(client, cards):
    # At the default limits: each stranger spends everything it may on the card.
    number, _ = cards.issue()
    per_card, _ = DEFAULT_PUBLIC_CLIENT_CARD_LIMIT
    refused = 0
    for i in range(6):
        for _ in range(per_card + 2):
            status = client.get(
                f"/api/v1/public/cards/{number}", environ_base={"REMOTE_ADDR": f"10.3.0.{i}"}
            ).status_code
            refused += status == 429
    assert refused == 6 * 2, "each stranger is stopped at its own limit"
    buyer = {"REMOTE_ADDR": "192.0.2.10"}
    assert client.get(f"/c/{number}", environ_base=buyer).status_code == 200
    assert (
        client.get(f"/api/v1/public/cards/{number}/bundle", environ_base=buyer).status_code == 200
    )


def _card_in_state(cards, state: str) -> str:
    """A card number in ``state`` (unused, used, blocked, voided, expired), anchored."""
    if state == "expired":
        number, _ = cards.issue(expires_at="2020-01-01T00:00:00Z")
        cards.ledger.expire_due(HQ)
    else:
        number, code = cards.issue()
        if state == "used":
            cards.ledger.redeem(HQ, number, code, store_id=cards.store())
        elif state in ("blocked", "voided"):
            getattr(cards.ledger, state[:-2] if state == "voided" else "block")(
                HQ, number, "reported stolen"
            )
    cards.anchor()
    return number


def _headline(page: str) -> str:
    found = re.search(r"<h1>([^<]*)</h1>", page)
    assert found, page
    return found.group(1)


HEADLINES = {
    "unused": ("You can accept this card", "可以接受"),
    "used": ("Used — do not accept", "已使用，请勿接受"),
    "blocked": ("Blocked — do not accept", "已冻结，请勿接受"),
    "voided": ("Voided — do not accept", "已作废，请勿接受"),
    "expired": ("Expired — do not accept", "已过期，请勿接受"),
}


@pytest.mark.parametrize("state", sorted(HEADLINES))
def test_the_headline_says_what_to_do_with_the_card_in_both_languages(client, cards, state):
    number = _card_in_state(cards, state)
    english = client.get(f"/c/{number}").get_data(as_text=True)
    client.set_cookie("cardtrail_lang", "zh_Hans_CN")
    chinese = client.get(f"/c/{number}").get_data(as_text=True)
    assert (_headline(english), _headline(chinese)) == HEADLINES[state]
    assert f'data-status="{state}"' in english


@pytest.mark.parametrize("state", ["used", "blocked", "voided", "expired"])
def test_a_card_not_to_accept_is_never_shown_as_acceptable(client, cards, state):
    page = client.get(f"/c/{_card_in_state(cards, state)}").get_data(as_text=True)
    status = re.search(r'<section class="status ([^"]*)"[^>]*data-accept="(\w+)"', page)
    assert status and status.group(2) == "false"
    assert "refuse" in status.group(1).split() and "accept" not in status.group(1).split()


def test_an_unused_card_is_the_only_one_marked_acceptable(client, cards):
    page = client.get(f"/c/{_card_in_state(cards, 'unused')}").get_data(as_text=True)
    assert re.search(r'<section class="status [^"]*\baccept\b[^"]*"[^>]*data-accept="true"', page)


def _visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize("language", ["en", "zh_Hans_CN"])
def test_technical_terms_appear_only_inside_the_folded_details(client, cards, language):
    number, _ = cards.issue()
    cards.anchor()
    cards.ledger.claim(HQ, number, "holder-1")
    client.set_cookie("cardtrail_lang", language)
    page = client.get(f"/c/{number}").get_data(as_text=True)
    main = page[page.index("<main") : page.index("</main>")]
    above, folded = main.split('<details class="technical">', 1)
    assert "<details" not in folded.split("</details>", 1)[0]  # one folded section
    assert folded.rstrip().endswith("</details>")
    assert "open" not in re.search(r'<details class="technical"[^>]*>', page).group(0)
    jargon = ["leaf", "RPC", "prev_event_hash", "seq", "叶子", "序号"]
    assert [w for w in jargon if w.lower() in _visible_text(above).lower()] == []
    # The proofs stay complete in the folded part: the events by seq and leaf, the chain
    # RPC field and the verifier's output area.
    assert "prev_event_hash" in folded and 'id="rpc-url"' in folded
    assert 'id="verdict"' in folded and 'id="checks"' in folded
    assert re.search(r"<li data-leaf=\"0\">[^<]*\b0\b", folded)


def test_the_page_says_who_issued_the_card_and_where_it_can_be_used(client, cards):
    cards.store("S1", "Shanghai Nanjing Road")
    cards.store("S2", "Beijing Wangfujing")
    limited, _ = cards.issue(allowed_stores=["S2"], allowed_regions=["north"])
    anywhere, _ = cards.issue()
    page = client.get(f"/c/{limited}").get_data(as_text=True)
    assert "Accepted only at: Beijing Wangfujing." in page
    assert "Accepted only in the region(s): north." in page
    assert "Shanghai Nanjing Road" not in page
    other = client.get(f"/c/{anywhere}").get_data(as_text=True)
    assert "Issued by the merchant. Accepted at every store of the merchant." in other
