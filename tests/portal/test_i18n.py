"""Chinese first: the default language, Accept-Language, the switch, the state words, the
problem titles, and catalogues that are complete and up to date with the sources."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from ledger_service.actor import Actor
from ledger_service.config import Settings
from ledger_service.domain.numbers import generate_card_number
from ledger_service.service import Ledger
from portal import i18n

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "portal" / "translations"
HQ = Actor("hq", "tok_i18n_test")
STORE = Actor("store", "tok_i18n_store", "S1")
PYBABEL = [sys.executable, "-m", "babel.messages.frontend"]


def _chinese(app):
    """A client that sends no Accept-Language at all, as many phone browsers' apps do."""
    client = app.test_client()
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)
    return client


def _page(client, path, **headers):
    response = client.get(path, headers=headers)
    return response, response.get_data(as_text=True)


# --- choosing the language -------------------------------------------------------------


def test_pages_are_chinese_without_any_language_preference(app):
    response, body = _page(_chinese(app), "/")
    assert response.status_code == 200
    assert '<html lang="zh-Hans-CN">' in body
    assert "这张卡券是真的吗？还没有使用过吗？" in body
    assert "Is this card genuine" not in body


def test_accept_language_english_gets_english(app):
    _, body = _page(_chinese(app), "/", **{"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in body
    assert "Is this card genuine, and still unused?" in body


def test_a_language_cardtrail_does_not_speak_falls_back_to_chinese(app):
    _, body = _page(_chinese(app), "/", **{"Accept-Language": "fr-FR,de;q=0.8"})
    assert "这张卡券是真的吗" in body


def test_the_best_spoken_language_of_accept_language_wins():
    assert i18n.choose_locale(None, [("fr", 1.0), ("en-US", 0.9), ("zh", 0.5)]) == "en"
    assert i18n.choose_locale(None, [("zh-TW", 1.0), ("en", 0.9)]) == i18n.CHINESE
    assert i18n.choose_locale("bogus", [("en", 1.0)]) == "en"


def test_the_switch_remembers_the_language_in_a_cookie_over_accept_language(app):
    client = _chinese(app)
    switched = client.get("/?lang=en", headers={"Accept-Language": "zh-CN"})
    assert switched.status_code == 303
    assert switched.headers["Location"] == "/"
    cookie = switched.headers["Set-Cookie"]
    assert cookie.startswith("cardtrail_lang=en;") and "HttpOnly" in cookie
    _, body = _page(client, "/", **{"Accept-Language": "zh-CN"})
    assert "Is this card genuine" in body
    back = client.get("/?lang=zh_Hans_CN")
    assert back.headers["Set-Cookie"].startswith("cardtrail_lang=zh_Hans_CN;")
    assert "这张卡券是真的吗" in client.get("/").get_data(as_text=True)


def test_the_switch_keeps_the_page_and_its_other_parameters(app):
    response = _chinese(app).get("/console/login?next=/console/cards&lang=en")
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/login?next=%2Fconsole%2Fcards"


def test_an_unknown_language_sets_no_cookie(app):
    response = _chinese(app).get("/?lang=xx")
    assert response.status_code == 303
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("path", ["/", "/c/AAAA", "/console/login"])
def test_every_page_offers_the_other_language(app, path):
    _, chinese = _page(_chinese(app), path)
    assert re.search(r'<a href="\?lang=en"[^>]*>English</a>', chinese)
    _, english = _page(_chinese(app), path, **{"Accept-Language": "en"})
    assert re.search(r'<a href="\?lang=zh_Hans_CN"[^>]*>中文</a>', english)


def test_pages_vary_on_what_chooses_their_language(app):
    response = _chinese(app).get("/")
    assert {"Accept-Language", "Cookie"} <= set(response.vary)


# --- words shown to people ----------------------------------------------------------------


@pytest.fixture
def ready_card(app) -> str:
    """A card whose pickup at store S1 is ready: PICKUP_READY."""
    rt = app.extensions["cardtrail"]
    ledger = Ledger(rt.engine, rt.secret_key)
    ledger.create_store(HQ, "S1", "上海南京路店", "east")
    card = ledger.issue_cards(HQ, "B-I18N", [{"product": "茅台 53% 500ml"}], active=True)["cards"][
        0
    ]
    ledger.claim(HQ, card["card_number"], "holder-1")
    pickup = ledger.request_pickup(
        HQ, card["card_number"], "store", card["redemption_code"], store_id="S1"
    )
    ledger.pickup_ready(STORE, pickup["pickup_id"])
    return card["card_number"]


def test_the_card_page_tells_the_story_in_chinese(app, ready_card):
    _, body = _page(_chinese(app), f"/c/{ready_card}")
    assert "已使用——提货处理中" in body
    assert '<li class="done">待提货</li>' in body
    assert "北京时间" in body and " UTC" not in body


def test_the_console_and_the_card_page_share_the_state_words(app, ready_card):
    rt = app.extensions["cardtrail"]
    from ledger_service.auth import create_token

    token = create_token(rt.engine, rt.secret_key, "hq", None).token
    client = _chinese(app)
    client.get("/console/login")
    with client.session_transaction() as session:
        csrf = session["console_csrf"]
    client.post("/console/login", data={"token": token, "csrf_token": csrf})
    _, page = _page(client, f"/console/cards?number={ready_card}")
    assert '<span class="state state-pickup_ready">待提货</span>' in page
    assert str(i18n.STATE_WORDS["PICKUP_READY"]) == "Ready for pickup"  # outside a request
    _, english = _page(client, f"/console/cards?number={ready_card}", **{"Accept-Language": "en"})
    assert '<span class="state state-pickup_ready">Ready for pickup</span>' in english


def test_the_dashboard_counts_days_in_the_plural_of_each_language(app):
    rt = app.extensions["cardtrail"]
    from ledger_service.auth import create_token

    token = create_token(rt.engine, rt.secret_key, "hq", None).token
    client = _chinese(app)
    client.get("/console/login")
    with client.session_transaction() as session:
        csrf = session["console_csrf"]
    client.post("/console/login", data={"token": token, "csrf_token": csrf})
    _, chinese = _page(client, "/console/dashboard?days=7")
    assert "<strong>7 天</strong>" in chinese and "各门店（近 7 天）" in chinese
    _, english = _page(client, "/console/dashboard?days=7", **{"Accept-Language": "en"})
    assert "<strong>7 days</strong>" in english and "Per store, last 7 days" in english


def test_problem_titles_follow_the_language_and_the_code_stays(app):
    number = generate_card_number()
    url = f"/api/v1/public/cards/{number}"
    chinese = _chinese(app).get(url).get_json()
    english = _chinese(app).get(url, headers={"Accept-Language": "en"}).get_json()
    assert chinese["code"] == english["code"] == "CARD_NOT_FOUND"
    assert chinese["title"] == "未找到卡券"
    assert english["title"] == "Card not found"


def test_werkzeug_refusals_are_titled_and_explained_in_the_language(app):
    doc = _chinese(app).get("/api/v1/no-such-thing").get_json()
    assert doc["code"] == "NOT_FOUND"
    assert doc["title"] == "未找到"
    assert doc["detail"] == "此地址没有内容。"


def test_the_card_page_embeds_the_browser_messages_of_its_language(app, ready_card):
    _, body = _page(_chinese(app), f"/c/{ready_card}")
    found = re.search(
        r'<script type="application/json" id="cardtrail-messages">(.*?)</script>', body
    )
    assert found is not None
    messages = json.loads(found.group(1))
    assert messages["Verifying in your browser…"] == "正在您的浏览器中校验…"
    _, english = _page(_chinese(app), f"/c/{ready_card}", **{"Accept-Language": "en"})
    found = re.search(r'id="cardtrail-messages">(.*?)</script>', english)
    assert found is not None and json.loads(found.group(1)) == {}


# --- the catalogues ---------------------------------------------------------------------------


def _catalogue(path: Path):
    with path.open("rb") as f:
        return read_po(f)


def _ids(catalogue) -> set:
    return {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalogue if m.id}


@pytest.mark.parametrize("domain", ["messages", "js"])
def test_every_message_has_a_chinese_translation(domain):
    catalogue = _catalogue(TRANSLATIONS / i18n.CHINESE / "LC_MESSAGES" / f"{domain}.po")
    assert not catalogue.fuzzy
    untranslated = [
        m.id
        for m in catalogue
        if m.id and (m.fuzzy or not (m.string if isinstance(m.string, str) else all(m.string)))
    ]
    assert untranslated == []


@pytest.mark.parametrize("domain", ["messages", "js"])
@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_each_catalogue_holds_exactly_the_template_messages(domain, locale):
    template = _ids(_catalogue(TRANSLATIONS / f"{domain}.pot"))
    assert _ids(_catalogue(TRANSLATIONS / locale / "LC_MESSAGES" / f"{domain}.po")) == template


def _extract(config: str, keywords: list[str], out: Path) -> set:
    args = [*PYBABEL, "extract", "-F", config, "--no-location", "-o", str(out)]
    for keyword in keywords:
        args += ["-k", keyword]
    subprocess.run([*args, "."], cwd=ROOT, check=True, capture_output=True)
    return _ids(_catalogue(out))


def test_the_message_template_is_up_to_date_with_the_sources(tmp_path):
    extracted = _extract("babel.cfg", ["lazy_gettext", "N_"], tmp_path / "messages.pot")
    assert extracted == _ids(_catalogue(TRANSLATIONS / "messages.pot"))


def test_every_browser_message_in_verify_js_is_in_the_js_catalogue(tmp_path):
    extracted = _extract("babel-js.cfg", ["t"], tmp_path / "js.pot")
    assert extracted <= _ids(_catalogue(TRANSLATIONS / "js.pot"))


# --- the compiled catalogues ------------------------------------------------------------------


def test_the_app_refuses_to_start_without_compiled_catalogues(tmp_path, monkeypatch):
    from cardtrail.app import create_app

    sources = tmp_path / "translations"
    (sources / "en" / "LC_MESSAGES").mkdir(parents=True)
    monkeypatch.setattr(i18n, "TRANSLATIONS", sources)
    settings = Settings.from_env(tmp_path / "data", environ={})
    with pytest.raises(RuntimeError, match="make install"):
        create_app(settings, {"TESTING": True})


def test_the_missing_catalogues_are_named(tmp_path):
    (tmp_path / "en" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "en" / "LC_MESSAGES" / "messages.mo").write_bytes(b"")
    missing = {p.relative_to(tmp_path).as_posix() for p in i18n.missing_catalogues(tmp_path)}
    assert missing == {
        "en/LC_MESSAGES/js.mo",
        f"{i18n.CHINESE}/LC_MESSAGES/messages.mo",
        f"{i18n.CHINESE}/LC_MESSAGES/js.mo",
    }
