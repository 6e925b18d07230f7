"""What a card page's render computes once per process (portal/card_render.py)."""

from __future__ import annotations

import json

from anchoring import checkpoints
from anchoring.db import write_transaction
from portal import card_render


def test_script_json_cannot_end_its_script_element_and_keeps_chinese_as_utf8():
    text = str(card_render.script_json({"k": "</script><b>'x'&中文"}))
    assert "</" not in text and "<" not in text and "中文" in text
    assert json.loads(text) == {"k": "</script><b>'x'&中文"}


def test_bound_gettext_translates_and_escapes_its_values_as_jinjas_own(app):
    template = app.jinja_env.from_string(
        '{{ _("Card %(number)s", number=n) }}|{% trans store=n %}at {{ store }}{% endtrans %}'
    )
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        expected = template.render(n="<b>")
        bound = template.render(n="<b>", **card_render.bound_gettext())
    assert bound == expected == "Card &lt;b&gt;|at &lt;b&gt;"
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        assert template.render(n="X", **card_render.bound_gettext()) == template.render(n="X")


def test_signing_deployments_are_read_again_once_a_newer_deployment_exists(app, cards):
    engine = app.extensions["cardtrail"].engine
    assert card_render.signing_deployments(app, engine, None) == "[]"
    cards.issue()
    cards.anchor()
    with write_transaction(engine) as conn:
        newest = checkpoints.current_deployment(conn)
    listed = json.loads(card_render.signing_deployments(app, engine, newest.id))
    assert [d["contract"].lower() for d in listed] == [newest.contract.lower()]
