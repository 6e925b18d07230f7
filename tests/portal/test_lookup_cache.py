"""ETags, conditional GETs and the in-process cache of a card's answers (SQLite, PostgreSQL)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from apptools import set_limits

from anchoring import checkpoints
from anchoring.checkpoints import retire_deployment
from anchoring.db import write_transaction
from ledger_service.actor import Actor
from ledger_service.devices import KeyRegistry
from ledger_service.domain.numbers import check_character
from portal.bundles import load_card
from portal.lookup_cache import LookupCache, app_cache, read_card_head

HQ = Actor("hq", "tok_hq_test")
ROUTES = {
    "page": "/c/{}",
    "card": "/api/v1/public/cards/{}",
    "bundle": "/api/v1/public/cards/{}/bundle",
}
PROOF_TABLES = ("log_nodes", "log_leaves", "events")


@contextmanager
def statements(app):
    """The SQL statements the app's engine sends its driver inside the block: those run
    through SQLAlchemy and those run straight on a pooled connection (the card's head)."""
    seen: list[str] = []
    hooked = []

    def hook(dbapi_conn, _record, _proxy):
        if hasattr(dbapi_conn, "set_trace_callback"):  # sqlite3
            dbapi_conn.set_trace_callback(seen.append)
        else:  # psycopg: every cursor, SQLAlchemy's included, comes from the factory
            dbapi_conn.cursor_factory = _recording_cursor(seen)
        hooked.append(dbapi_conn)

    engine = app.extensions["cardtrail"].engine
    sa.event.listen(engine, "checkout", hook)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "checkout", hook)
        for dbapi_conn in hooked:
            if hasattr(dbapi_conn, "set_trace_callback"):
                dbapi_conn.set_trace_callback(None)
            else:
                import psycopg

                dbapi_conn.cursor_factory = psycopg.Cursor


def _recording_cursor(seen: list[str]):
    import psycopg

    class Recording(psycopg.Cursor):
        def execute(self, query, *args, **kwargs):
            seen.append(query if isinstance(query, str) else str(query))
            return super().execute(query, *args, **kwargs)

    return Recording


def _selects(seen: list[str]) -> list[str]:
    # Transaction control (SQLite's BEGIN, PostgreSQL's isolation level) is not a query.
    return [s for s in seen if s.lstrip().upper().startswith("SELECT")]


def _touching(seen: list[str], tables=PROOF_TABLES) -> list[str]:
    return [s for s in seen if any(t in s for t in tables)]


@pytest.mark.parametrize("kind", ROUTES)
def test_etag_is_strong_and_stable_across_identical_requests(client, cards, kind):
    number, _ = cards.issue()
    cards.anchor()
    first, second = (client.get(ROUTES[kind].format(number)) for _ in range(2))
    assert first.status_code == second.status_code == 200
    tag, weak = first.get_etag()
    assert tag and not weak
    assert second.get_etag() == (tag, False)
    assert first.get_data() == second.get_data()
    assert first.headers["Cache-Control"] == "public, no-cache"


def test_etags_differ_between_the_answers_of_one_card(client, cards):
    number, _ = cards.issue()
    tags = {client.get(path.format(number)).get_etag()[0] for path in ROUTES.values()}
    assert len(tags) == 3


@pytest.mark.parametrize("kind", ["page", "card"])
def test_the_language_is_part_of_the_tag_and_the_answer_varies_by_it(client, cards, kind):
    number, _ = cards.issue()
    path = ROUTES[kind].format(number)
    english = client.get(path, headers={"Accept-Language": "en"})
    chinese = client.get(path, headers={"Accept-Language": "zh-CN"})
    assert english.get_etag()[0] != chinese.get_etag()[0]
    assert english.get_data() != chinese.get_data()
    # A copy in English does not satisfy a request for Chinese, nor the other way round.
    tag = english.get_etag()[0]
    again = client.get(path, headers={"Accept-Language": "zh-CN", "If-None-Match": f'"{tag}"'})
    assert again.status_code == 200 and again.get_data() == chinese.get_data()
    same = client.get(path, headers={"Accept-Language": "en", "If-None-Match": f'"{tag}"'})
    assert same.status_code == 304
    for response in (english, same):
        assert {"accept-language", "cookie"} <= {v.lower() for v in response.vary}


def test_the_bundle_is_the_same_in_every_language(client, cards):
    number, _ = cards.issue()
    path = ROUTES["bundle"].format(number)
    english = client.get(path, headers={"Accept-Language": "en"})
    chinese = client.get(path, headers={"Accept-Language": "zh-CN"})
    assert english.get_etag() == chinese.get_etag()
    assert english.get_data() == chinese.get_data()
    assert "accept-language" not in {v.lower() for v in english.vary}


@pytest.mark.parametrize("kind", ROUTES)
def test_if_none_match_with_the_current_tag_is_answered_304_without_a_body(client, cards, kind):
    number, _ = cards.issue()
    cards.anchor()
    tag = client.get(ROUTES[kind].format(number)).get_etag()[0]
    for sent in (f'"{tag}"', f'W/"{tag}"', f'"other", "{tag}"', "*"):
        response = client.get(ROUTES[kind].format(number), headers={"If-None-Match": sent})
        assert response.status_code == 304, sent
        assert response.get_data() == b""
        assert response.get_etag() == (tag, False)
        assert response.headers["Cache-Control"] == "public, no-cache"
    other = client.get(ROUTES[kind].format(number), headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.get_data()


def test_a_304_reads_the_head_and_proves_nothing(app, client, cards):
    number, _ = cards.issue()
    cards.ledger.claim(HQ, number, "holder-1")
    cards.anchor()
    path = ROUTES["bundle"].format(number)
    tag = client.get(path).get_etag()[0]
    with statements(app) as seen:
        response = client.get(path, headers={"If-None-Match": f'"{tag}"'})
    assert response.status_code == 304
    assert len(_selects(seen)) == 1 and not _touching(seen)


@pytest.mark.parametrize("kind", ROUTES)
def test_a_new_event_changes_the_tag_and_the_answer(client, cards, kind):
    store = cards.store()
    number, code = cards.issue()
    cards.anchor()
    path = ROUTES[kind].format(number)
    before = client.get(path)
    cards.ledger.redeem(HQ, number, code, store_id=store)
    after = client.get(path, headers={"If-None-Match": f'"{before.get_etag()[0]}"'})
    assert after.status_code == 200
    assert after.get_etag()[0] != before.get_etag()[0]
    assert b"REDEEMED" not in before.get_data() and b"REDEEMED" in after.get_data()


@pytest.mark.parametrize("kind", ROUTES)
def test_a_new_checkpoint_changes_the_tag_and_the_answer(client, cards, kind):
    number, _ = cards.issue()
    cards.issue()
    first = cards.anchor()
    path = ROUTES[kind].format(number)
    before = client.get(path)
    cards.issue()  # another card's event: this card's history is unchanged
    second = cards.anchor()
    assert second.checkpoint.tree_size > first.checkpoint.tree_size
    after = client.get(path, headers={"If-None-Match": f'"{before.get_etag()[0]}"'})
    assert after.status_code == 200
    assert after.get_etag()[0] != before.get_etag()[0]
    if kind != "page":
        old, new = before.json["checkpoint"], after.json["checkpoint"]
        assert (old["tree_size"], new["tree_size"]) == (2, 3)
    else:
        assert before.get_data() != after.get_data()


def test_a_first_deployment_and_a_new_device_key_change_the_page_tag(client, cards):
    number, _ = cards.issue()
    path = ROUTES["page"].format(number)
    tags = [client.get(path).get_etag()[0]]
    cards.anchor()
    tags.append(client.get(path).get_etag()[0])
    store = cards.store()
    KeyRegistry(cards.engine).register(HQ, store, "0x" + "ab" * 20)
    tags.append(client.get(path).get_etag()[0])
    assert len(set(tags)) == 3


@pytest.mark.parametrize("kind", ROUTES)
def test_a_cache_hit_runs_the_head_statements_only(app, client, cards, kind):
    number, _ = cards.issue()
    cards.ledger.claim(HQ, number, "holder-1")
    cards.anchor()
    path = ROUTES[kind].format(number)
    with statements(app) as miss:
        built = client.get(path)
    with statements(app) as hit:
        cached = client.get(path)
    assert _touching(miss), "the first lookup builds the answer from the log"
    assert len(_selects(hit)) == 1 and not _touching(hit)
    assert cached.get_data() == built.get_data()


def test_the_cache_keeps_at_most_its_size_dropping_the_least_recently_used(app, client, cards):
    app.config["PUBLIC_LOOKUP_CACHE_SIZE"] = 2
    numbers = [cards.issue()[0] for _ in range(3)]
    cards.anchor()
    for number in numbers:
        client.get(ROUTES["bundle"].format(number))
    assert len(app_cache(app)) == 2
    with statements(app) as again_last:
        client.get(ROUTES["bundle"].format(numbers[2]))
    with statements(app) as again_first:
        client.get(ROUTES["bundle"].format(numbers[0]))
    assert not _touching(again_last) and _touching(again_first)
    assert len(app_cache(app)) == 2


def test_lru_keeps_what_was_read_last():
    cache = LookupCache(2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"
    cache.put("c", b"3")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1", None, b"3")
    with pytest.raises(ValueError):
        LookupCache(0)


def test_a_page_built_after_a_new_event_does_not_match_the_head_read_before(app, cards):
    store = cards.store()
    number, code = cards.issue()
    cards.anchor()
    engine = app.extensions["cardtrail"].engine
    before = read_card_head(engine, number)
    assert before.built(load_card(engine, number, "the merchant"))
    cards.ledger.redeem(HQ, number, code, store_id=store)
    page = load_card(engine, number, "the merchant")
    assert not before.built(page) and read_card_head(engine, number).built(page)
    cards.anchor()
    assert not read_card_head(engine, number).built(page)


def test_the_head_names_the_checkpoint_the_page_is_built_on(app, cards):
    number, _ = cards.issue()
    engine = app.extensions["cardtrail"].engine
    unanchored = read_card_head(engine, number)
    assert unanchored.checkpoint is None
    assert unanchored.built(load_card(engine, number, "the merchant"))
    anchored = cards.anchor()
    assert read_card_head(engine, number).checkpoint == anchored
    with write_transaction(engine) as conn:
        retire_deployment(conn, checkpoints.current_deployment(conn), "chain reset")
    retired = read_card_head(engine, number)
    assert retired.checkpoint is None, "an orphaned checkpoint is no longer the head's"
    assert retired.built(load_card(engine, number, "the merchant"))


def test_unknown_cards_are_not_found_without_a_tag(client, cards):
    number, _ = cards.issue()
    body = number[1:16] + number[0]
    unknown = body + check_character(body)
    for path in ROUTES.values():
        response = client.get(path.format(unknown))
        assert response.status_code == 404
        assert "public" not in response.headers.get("Cache-Control", "")
        assert response.get_etag() == (None, None)


def test_a_304_counts_against_the_rate_limits(app, client, cards):
    set_limits(app, public_per_client_card=(2, 60.0))
    number, _ = cards.issue()
    path = ROUTES["bundle"].format(number)
    tag = client.get(path).get_etag()[0]
    assert client.get(path, headers={"If-None-Match": f'"{tag}"'}).status_code == 304
    assert client.get(path, headers={"If-None-Match": f'"{tag}"'}).status_code == 429
