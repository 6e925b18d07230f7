"""The lookup section's issue-18 rows: card page and bundle held against the front page."""

from __future__ import annotations

from bench.lookup import _beside_front_page


def _figure(rate: float, p99_ms: float) -> dict[str, dict[str, float]]:
    def stat(value: float) -> dict[str, float]:
        return {"median": value, "min": value, "max": value, "runs": 1}

    return {"requests_per_s": stat(rate), "p99_ms": stat(p99_ms)}


def test_card_page_and_bundle_are_judged_by_rate_and_p99_beside_the_front_page():
    figures = {
        "home": _figure(1000, 50),
        "page": _figure(850, 140),  # 0.85× the rate, 2.8× the p99: met
        "bundle": _figure(900, 200),  # 0.9× the rate but 4× the p99: missed
    }
    page, bundle = _beside_front_page(figures)
    assert (page.key, page.met, page.value) == ("issue18.card_page", True, "0.85×; p99 2.80×")
    assert (bundle.key, bundle.met) == ("issue18.bundle", False)
    assert page.peer == "front page 1,000/s, p99 50.0 ms"


def test_a_slow_card_page_misses_however_short_its_p99():
    figures = {"home": _figure(1000, 50), "page": _figure(300, 50), "bundle": _figure(300, 50)}
    assert [t.met for t in _beside_front_page(figures)] == [False, False]


def test_cards_served_from_the_cache_and_by_304_are_judged_on_their_own_rows():
    figures = {
        "home": _figure(1000, 50),
        "page": _figure(200, 400),  # cache misses: missed
        "bundle": _figure(300, 300),
        "page_repeated": _figure(820, 100),  # the cache serves it: met
        "bundle_repeated": _figure(1100, 60),
        "page_conditional": _figure(950, 70),
        "bundle_conditional": _figure(700, 70),  # 0.7×: missed
    }
    judged = {t.key: t.met for t in _beside_front_page(figures)}
    assert judged == {
        "issue18.card_page": False,
        "issue18.bundle": False,
        "issue18.card_page.cached": True,
        "issue18.bundle.cached": True,
        "issue18.card_page.conditional": True,
        "issue18.bundle.conditional": False,
    }
