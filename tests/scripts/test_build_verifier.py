"""``make verifier``: one self-contained, reproducible HTML file with pinned issuers."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

from scripts import build_verifier

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = ROOT / "tests" / "anchoring" / "bundles"
VALID = BUNDLES / "valid.json"


def _csp(html: str) -> dict[str, list[str]]:
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy
    return {d.split()[0]: d.split()[1:] for d in policy.group(1).split("; ")}


def _inline(html: str, tag: str) -> str:
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
    assert len(found) == 1
    return str(found[0])


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_two_builds_are_byte_identical_and_main_prints_the_hash(tmp_path, capsys):
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    build_verifier.main(["--out", str(first)])
    build_verifier.main(["--out", str(second)])
    assert first.read_bytes() == second.read_bytes()
    printed = capsys.readouterr().out.split()
    assert printed[0] == hashlib.sha256(first.read_bytes()).hexdigest() == printed[2]


def test_the_file_references_nothing_outside_itself():
    html = build_verifier.build().decode()
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert not re.search(r"<link\b", html) and "@import" not in html
    assert not re.search(r"\b(src|href)=\"(https?:)?//", html)


def test_the_csp_allows_exactly_the_inlined_script_and_style():
    html = build_verifier.build().decode()
    csp = _csp(html)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == [_sha256_source(_inline(html, "script"))]
    assert csp["style-src"] == [_sha256_source(_inline(html, "style"))]
    assert "'unsafe-inline'" not in html and "'unsafe-eval'" not in html


def test_connections_go_only_to_the_pinned_issuers_origins(tmp_path):
    descriptor = json.loads(build_verifier.ISSUERS.read_text(encoding="utf-8"))["issuers"][0]
    other = copy.deepcopy(descriptor) | {
        "api_origin": "https://cards.example.com",
        "rpc_urls": ["https://rpc.example.org/v1/key"],
    }
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps({"issuers": [descriptor, other]}), encoding="utf-8")
    csp = _csp(build_verifier.build(issuers).decode())
    assert csp["connect-src"] == sorted(
        [
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8545",
            "https://cards.example.com",
            "https://rpc.example.org",
        ]
    )


def test_an_issuers_file_with_a_malformed_descriptor_is_refused(tmp_path):
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps({"issuers": [{"format": "cardtrail-issuer/1"}]}))
    with pytest.raises(ValueError):
        build_verifier.build(issuers)
    issuers.write_text(json.dumps({"issuers": []}))
    with pytest.raises(ValueError, match="no 'issuers'"):
        build_verifier.build(issuers)


def _run_built(tmp_path: Path, node_binary: str, case: Path) -> dict:
    built = tmp_path / "verifier.html"
    built.write_bytes(build_verifier.build())
    out = subprocess.run(
        [
            node_binary,
            str(ROOT / "tests" / "scripts" / "run_built_verifier.js"),
            str(built),
            str(case),
            "https://cards.example.com/c/abcd-efgh-1?lang=en",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict = json.loads(out.stdout)
    return result


def test_the_inlined_script_verifies_a_bundle_under_node(tmp_path, node_binary):
    result = _run_built(tmp_path, node_binary, VALID)
    assert result["scripts"] == 1 and result["ok"] is True
    assert result["selectors"] == build_verifier.selectors()
    assert result["parsed"] == "ABCDEFGH1"
    assert result["bundleUrl"] == "https://cards.example.com/api/v1/public/cards/ABC/bundle"
    assert (result["pinnedOk"], result["otherOk"]) == (True, False)


def _messages_block(html: str) -> dict:
    found = re.search(
        r'<script type="application/json" id="cardtrail-messages">(.*?)</script>', html, re.S
    )
    assert found, "the file lost its message catalogue"
    messages: dict = json.loads(found.group(1))
    return messages


def test_the_file_embeds_the_chinese_messages_the_card_page_serves():
    # The same catalogue as a Chinese card page's (compiled by `make catalogues`), read
    # from the .po: nothing is fetched at run time.
    from portal import i18n

    messages = _messages_block(build_verifier.build().decode())
    assert messages == dict(i18n._js_catalogue(i18n.CHINESE))
    assert messages["Balance: %(balance)s, proven by the anchored log (after seq %(seq)s)."] == (
        "余额：%(balance)s，已由链上锚定的日志证明（seq %(seq)s 之后）。"
    )
    assert messages["%(field)s must be an array"] == "%(field)s 必须是数组"


def test_a_fuzzy_or_untranslated_message_is_left_to_its_english_id(tmp_path):
    po = tmp_path / "js.po"
    po.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "kept"\nmsgstr "保留"\n\n'
        '#, fuzzy\nmsgid "guessed"\nmsgstr "猜的"\n\n'
        'msgid "untranslated"\nmsgstr ""\n',
        encoding="utf-8",
    )
    assert build_verifier.browser_messages(po) == {"kept": "保留"}


def test_a_data_block_cannot_close_its_element():
    text = build_verifier.data_block({"name": "</script><script>alert(1)"})
    assert "</" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)"}


def test_the_built_file_words_the_balance_and_a_malformed_bundle_in_chinese(tmp_path, node_binary):
    result = _run_built(tmp_path, node_binary, BUNDLES / "valid-stored-value-history.json")
    assert result["ok"] is True
    # Balances after a pending event are said not to be proven, in Chinese.
    assert result["balanceSentence"] == (
        "当前余额：370.00 CNY，尚未证明：标为“尚未证明”的事件已记录，但尚未锚定到链上。"
        " 最近一次已证明的余额：400.00 CNY。"
    )
    assert [(c["name"], c["ok"], c["reason"]) for c in result["malformed"]] == [
        ("format", False, "bundle.events 必须是数组")
    ]


def test_the_documented_hash_is_the_hash_of_this_commits_build():
    # docs/verifier.md publishes the hash a rebuild must reproduce; a change to anything
    # inlined (verify.js, app.js, page.html, portal.css, the Chinese js.po, the issuers)
    # must update it.
    import hashlib
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "verifier.md").read_text()
    documented = re.search(r"```\n([0-9a-f]{64})\n```", doc)
    assert documented, "docs/verifier.md lost the published hash"
    assert documented[1] == hashlib.sha256(build_verifier.build()).hexdigest()
