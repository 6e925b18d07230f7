"""Languages and the merchant's clock on the pages: Simplified Chinese first, English second.

Message ids are English; the catalogues live in ``portal/translations/<locale>/LC_MESSAGES``
(``messages`` for the server, ``js`` for the browser's verifier) and are compiled by
``make install`` (``pybabel compile``). :func:`init_app` refuses to start without the
compiled catalogues, so a missing build step never shows English silently.

A request's language: the ``cardtrail_lang`` cookie (set by the switch on every page,
``?lang=<code>``), else the best of ``Accept-Language``, else Chinese.

    >>> choose_locale(None, [("en-US", 1.0), ("zh-CN", 0.8)])
    'en'
    >>> choose_locale(None, [("fr", 1.0)])
    'zh_Hans_CN'
    >>> choose_locale("en", [("zh-CN", 1.0)])
    'en'
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.support import Translations
from flask import Flask, Response, redirect, request
from flask_babel import Babel, get_locale, lazy_gettext
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from ledger_service.runtime import runtime

CHINESE = "zh_Hans_CN"
ENGLISH = "en"
LOCALES = (CHINESE, ENGLISH)
"""The languages CardTrail speaks, the default first."""
LANGUAGE_NAMES = {CHINESE: "中文", ENGLISH: "English"}
"""Each language in its own words, for the switch."""
COOKIE = "cardtrail_lang"
COOKIE_DAYS = 365
TRANSLATIONS = Path(__file__).parent / "translations"
DOMAINS = ("messages", "js")
"""The server's messages, and the browser verifier's (embedded in the card page)."""

# One word for each card and pickup state, shared by the card page and the console.
STATE_WORDS = {
    "ISSUED": lazy_gettext("Unused"),
    "CLAIMED": lazy_gettext("Claimed"),
    "TRANSFERRED": lazy_gettext("Transferred"),
    "PICKUP_REQUESTED": lazy_gettext("Pickup requested"),
    "PICKUP_READY": lazy_gettext("Ready for pickup"),
    "PICKUP_SHIPPED": lazy_gettext("Shipped"),
    "PICKUP_COMPLETED": lazy_gettext("Picked up"),
    "REDEEMED": lazy_gettext("Redeemed"),
    "BLOCKED": lazy_gettext("Blocked"),
    "VOIDED": lazy_gettext("Voided"),
    "EXPIRED": lazy_gettext("Expired"),
    "ACTIVATED": lazy_gettext("Sold (activated)"),
    "LOADED": lazy_gettext("Topped up"),
    "REFUNDED": lazy_gettext("Refunded"),
    "ADJUSTED": lazy_gettext("Balance adjusted by the merchant"),
    "BALANCE_SENT": lazy_gettext("Balance sent to another card"),
    "BALANCE_RECEIVED": lazy_gettext("Balance received from another card"),
    "PICKUP_REVIEWED": lazy_gettext("Delivery reviewed"),
    "GIFT_OFFERED": lazy_gettext("Being gifted"),
}

# The log's event types as the story of a card tells them.
EVENT_WORDS = {
    "ISSUED": lazy_gettext("Issued"),
    "CLAIMED": lazy_gettext("Claimed by a holder"),
    "TRANSFERRED": lazy_gettext("Given to a new holder"),
    "PICKUP_REQUESTED": lazy_gettext("Pickup requested"),
    "PICKUP_READY": lazy_gettext("Ready for pickup"),
    "PICKUP_SHIPPED": lazy_gettext("Shipped"),
    "PICKUP_COMPLETED": lazy_gettext("Pickup completed"),
    "REDEEMED": lazy_gettext("Redeemed"),
    "BLOCKED": lazy_gettext("Blocked by the merchant"),
    "UNBLOCKED": lazy_gettext("Unblocked by the merchant"),
    "VOIDED": lazy_gettext("Voided by the merchant"),
    "EXPIRED": lazy_gettext("Expired"),
    "PICKUP_CANCELLED": lazy_gettext("Pickup cancelled"),
    "PICKUP_MOVED": lazy_gettext("Pickup moved"),
    "PICKUP_REVIEWED": lazy_gettext("Delivery reviewed"),
    "GIFT_OFFERED": lazy_gettext("Offered as a gift"),
    "GIFT_ACCEPTED": lazy_gettext("Gift accepted"),
    "GIFT_RETURNED": lazy_gettext("Gift returned to the giver"),
    "GIFT_WITHDRAWN": lazy_gettext("Gift withdrawn by the giver"),
}

ANOMALY_WORDS = {
    "used_card_attempt": lazy_gettext("Used card presented"),
    "other_store_attempt": lazy_gettext("Card presented at another store"),
    "blocked_card_attempt": lazy_gettext("Blocked card presented"),
    "voided_card_attempt": lazy_gettext("Voided card presented"),
    "unknown_card": lazy_gettext("Unknown card number"),
    "code_locked": lazy_gettext("Code locked"),
    "redemption_burst": lazy_gettext("Burst of redemptions"),
    "offline_conflict": lazy_gettext("Offline conflict"),
}

ROLE_WORDS = {
    "hq": lazy_gettext("Headquarters"),
    "store": lazy_gettext("Store"),
    "auditor": lazy_gettext("Auditor"),
    "customer": lazy_gettext("Customer"),
}

SERIES_WORDS = {
    "issued": lazy_gettext("issued"),
    "picked up": lazy_gettext("picked up"),
    "redeemed": lazy_gettext("redeemed"),
}
"""The dashboard chart's series (portal.dashboard.daily_chart) for people."""

PICKUP_MODES = {"store": lazy_gettext("In store"), "delivery": lazy_gettext("Delivery")}


def choose_locale(cookie: str | None, accepted: Iterable[tuple[str, float]]) -> str:
    """The language of a request: the cookie's choice, else the first language of
    ``accepted`` (best first) that CardTrail speaks, else Chinese.

    Any Chinese (``zh``, ``zh-CN``, ``zh-TW``…) gets Simplified Chinese: it is the only
    Chinese catalogue, and closer to a Chinese reader than English."""
    if cookie in LOCALES:
        return cookie
    for tag, _quality in accepted:
        primary = tag.replace("_", "-").split("-")[0].lower()
        if primary == "zh":
            return CHINESE
        if primary == "en":
            return ENGLISH
    return CHINESE


def _select_locale() -> str:
    return choose_locale(request.cookies.get(COOKIE), request.accept_languages)


def word(words: dict[str, Any], key: str | None) -> str:
    """``key``'s word in this request's language (the key itself when it has none)."""
    if key is None:
        return "—"
    found = words.get(key)
    return str(found) if found is not None else key


def zone_label(zone_name: str) -> str:
    """How a page names the merchant's clock: 北京时间 for Asia/Shanghai, else the zone."""
    if zone_name == "Asia/Shanghai":
        return str(_("Beijing time"))
    return zone_name


def local_time(moment: datetime | str | None, zone: ZoneInfo, pattern: str) -> str:
    """``moment`` (aware, naive UTC, or ISO text) in the merchant's zone, as ``pattern``."""
    if moment is None or moment == "":
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime(pattern)


def js_messages() -> dict[str, str]:
    """The browser verifier's messages in this request's language (msgid -> text)."""
    return dict(_js_catalogue(str(get_locale())))


@functools.cache
def _js_catalogue(locale: str) -> tuple[tuple[str, str], ...]:
    # Read once per process and language: the compiled catalogue changes only on install.
    catalogue = Translations.load(str(TRANSLATIONS), [locale], "js")
    messages = getattr(catalogue, "_catalog", {})
    return tuple((str(k), str(v)) for k, v in messages.items() if isinstance(k, str) and k and v)


def missing_catalogues(directory: Path) -> list[Path]:
    """The compiled catalogues (``.mo``) that should be there and are not."""
    return [
        directory / locale / "LC_MESSAGES" / f"{domain}.mo"
        for locale in LOCALES
        for domain in DOMAINS
        if not (directory / locale / "LC_MESSAGES" / f"{domain}.mo").is_file()
    ]


SWITCH = "lang"
"""The query parameter of the language switch: ``?lang=en`` on any page."""


def without_switch(path: str, args: Iterable[tuple[str, str]]) -> str:
    """The address to go back to after switching: the same page, its other parameters kept.

    >>> without_switch("/c/X", [("lang", "en"), ("days", "7")])
    '/c/X?days=7'
    """
    kept = [(k, v) for k, v in args if k != SWITCH]
    return path + ("?" + urlencode(kept) if kept else "")


def _switch_language() -> BaseResponse | None:
    """``?lang=<code>`` on a page: remember the language in a cookie, show the page again.

    The switch is a relative link (``?lang=en``), so no page names its own address, and
    the answer only ever goes back to the same path on this host."""
    code = request.args.get(SWITCH)
    if code is None or request.method != "GET" or request.path.startswith("/api/"):
        return None
    response = redirect(without_switch(request.path, request.args.items(multi=True)), 303)
    if code in LOCALES:
        response.set_cookie(
            COOKIE,
            code,
            max_age=COOKIE_DAYS * 86400,
            samesite="Lax",
            httponly=True,
            secure=not runtime().settings.dev_mode,
        )
    return response


def _template_helpers() -> dict[str, Any]:
    zone = runtime().settings.zone
    locale = str(get_locale())
    return {
        "locale": locale,
        "html_lang": "zh-Hans-CN" if locale == CHINESE else locale,
        "other_languages": [(code, LANGUAGE_NAMES[code]) for code in LOCALES if code != locale],
        "switch": SWITCH,
        "state_word": lambda state: word(STATE_WORDS, state),
        "event_word": lambda kind: word(EVENT_WORDS, kind),
        "anomaly_word": lambda kind: word(ANOMALY_WORDS, kind),
        "role_word": lambda role: word(ROLE_WORDS, role),
        "mode_word": lambda mode: word(PICKUP_MODES, mode),
        "series_word": lambda name: word(SERIES_WORDS, name),
        "zone_label": zone_label(runtime().settings.timezone),
        "local_time": lambda moment, pattern="%Y-%m-%d %H:%M": local_time(moment, zone, pattern),
    }


def _vary(response: Response) -> Response:
    # Pages differ by language: caches must key them on what chooses it.
    if response.mimetype == "text/html":
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
    return response


def init_app(app: Flask) -> None:
    """Install Flask-Babel with CardTrail's selector, the switch and the page helpers.

    Raises RuntimeError when a compiled catalogue is missing: run ``make install``.
    """
    missing = missing_catalogues(TRANSLATIONS)
    if missing:
        names = ", ".join(str(p.relative_to(TRANSLATIONS.parent)) for p in missing)
        raise RuntimeError(
            f"compiled translations missing ({names}): run `make install` or "
            "`pybabel compile -d portal/translations -D messages` and `-D js`"
        )
    app.config.setdefault("BABEL_DEFAULT_LOCALE", CHINESE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=_select_locale)
    app.before_request(_switch_language)
    app.context_processor(_template_helpers)
    app.after_request(_vary)
