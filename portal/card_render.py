r"""Rendering the card page once the lookup cache missed (:func:`portal.public.card`).

A miss renders dozens of messages, builds the verifier's inputs and embeds the verifier's
catalogue; what does not depend on the card is computed once per process instead:

* the catalogue as JSON, per language (most of the page's bytes);
* the deployments a device signature may be made for, per newest deployment (they are
  only ever added: :class:`portal.lookup_cache.CardHead` counts on the same);
* the request's translations, looked up once per page rather than on each message.

    >>> print(script_json({"note": "</script> 中文 & 'x'"}))
    {"note":"\u003c/script\u003e 中文 \u0026 \u0027x\u0027"}
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_babel import get_translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from sqlalchemy.engine import Engine

from ledger_service.devices import known_domains
from portal import i18n

_EXTENSION = "cardtrail.card_render.deployments"
# What ends a JSON text inside <script>, escaped as Jinja's tojson does; the rest, Chinese
# included, stays UTF-8: half the bytes of \uXXXX escapes.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "'": "\\u0027"})


def script_json(document: object) -> Markup:
    """``document`` as compact JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.translate(_SCRIPT_SAFE))


@functools.cache
def js_messages_json(locale: str) -> Markup:
    """The verifier's catalogue for the page's ``<script type="application/json">``.

    ``locale`` must be the request's (:func:`portal.i18n.js_messages` reads it from the
    request); it keys the one serialisation per process and language.
    """
    return script_json(i18n.js_messages())


def signing_deployments(app: Flask, engine: Engine, newest: int | None) -> str:
    """:func:`known_domains` as the page's JSON, read again only when ``newest`` (the
    newest deployment's id, from the card's head) changes."""
    kept = app.extensions.get(_EXTENSION)
    if kept is not None and kept[0] == newest:
        return str(kept[1])
    text = json.dumps([d.to_json() for d in known_domains(engine)], separators=(",", ":"))
    app.extensions[_EXTENSION] = (newest, text)
    return text


def bound_gettext() -> dict[str, Callable[..., str]]:
    """The template's ``gettext``, ``ngettext`` and ``_`` bound to this request's
    translations: Flask-Babel's own find the locale, domain and catalogue again on every
    message. They behave as Jinja's new-style gettext (autoescaped, ``%`` formatting)."""
    translations = get_translations()
    single, plural = translations.ugettext, translations.ungettext

    @pass_context
    def gettext(context: Context, message: str, **variables: Any) -> str:
        text = single(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables  # type: ignore[no-any-return]

    @pass_context
    def ngettext(context: Context, singular: str, plural_: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        text = plural(singular, plural_, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables  # type: ignore[no-any-return]

    return {"gettext": gettext, "_": gettext, "ngettext": ngettext}
