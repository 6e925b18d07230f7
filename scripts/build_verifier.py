"""``make verifier``: the independent verifier, ONE self-contained HTML file.

It inlines verify.js (the card page's checks) and the page's own script and style, the
Chinese catalogue of verify.js's messages (the ``js`` domain the card page embeds), and
compiles in the pinned issuers of ``verifier/issuers.json`` (``cardtrail-issuer/1``
descriptors, validated here). Opened from disk or hosted by anyone, it fetches a card's
bundle from the chosen issuer's API origin and checks it against that issuer's PINNED
contract through its public RPC endpoint. Its Content-Security-Policy allows only the
inlined script and style (by hash) and connections to the pinned origins.

The build is reproducible: no timestamps, sorted JSON, fixed file order, so two builds
give the same bytes and anyone can compare the SHA-256 it prints (docs/verifier.md).

    python -m scripts.build_verifier [--issuers FILE] [--out FILE]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel.messages.pofile import read_po
from eth_utils.abi import event_signature_to_log_topic, function_signature_to_4byte_selector

from anchoring.issuer import parse_descriptor

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "verifier"
ISSUERS = SOURCES / "issuers.json"
OUT = ROOT / "build" / "cardtrail-verifier.html"
SCRIPTS = (ROOT / "portal" / "static" / "verify.js", SOURCES / "app.js")
"""Inlined in this order: the checks, then the page that drives them."""
STYLES = (ROOT / "portal" / "static" / "portal.css",)
PLACEHOLDER = re.compile(r"@(CSP|STYLE|ISSUERS|MESSAGES|SCRIPT)@")
MESSAGES = ROOT / "portal" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "js.po"
"""The page's language is Chinese, its audience's (the portal's default too)."""


def selectors() -> dict[str, str]:
    """The contract call selectors and log topic verify.js needs (it has no keccak)."""
    return {
        "rootAt": "0x" + function_signature_to_4byte_selector("rootAt(uint64)").hex(),
        "latestCheckpoint": "0x" + function_signature_to_4byte_selector("latestCheckpoint()").hex(),
        "anchoredTopic": "0x"
        + event_signature_to_log_topic("CheckpointAnchored(uint64,bytes32,uint256)").hex(),
    }


def pinned_issuers(raw: Any) -> list[dict[str, Any]]:
    """The ``issuers`` of ``raw``, each validated as a ``cardtrail-issuer/1`` descriptor
    and written back in its canonical form; ValueError when there are none."""
    issuers = raw.get("issuers") if isinstance(raw, dict) else None
    if not isinstance(issuers, list) or not issuers:
        raise ValueError("the issuers file holds no 'issuers' list")
    return [parse_descriptor(item).to_json() for item in issuers]


def browser_messages(po_file: Path = MESSAGES) -> dict[str, str]:
    """verify.js's catalogue (message id -> text) as the card page embeds it: what
    ``pybabel compile`` keeps of ``po_file`` (translated, not fuzzy; verify.js has no
    plurals). Read from the tracked ``.po``, since the ``.mo`` is built locally."""
    with po_file.open("rb") as f:
        catalogue = read_po(f)
    return {
        m.id: m.string
        for m in catalogue
        if isinstance(m.id, str) and m.id and isinstance(m.string, str) and m.string and not m.fuzzy
    }


def data_block(value: Any) -> str:
    """``value`` as the text of a ``<script type="application/json">`` data block."""
    # "</" would end the block early.
    return json.dumps(value, sort_keys=True, ensure_ascii=False).replace("</", "<\\/")


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, as CSP source expressions name it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def csp_hash(text: str) -> str:
    """The CSP source expression allowing exactly the inline ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def content_security_policy(script: str, style: str, issuers: list[dict[str, Any]]) -> str:
    """Only the inlined script and style run; connections go only to the pinned origins."""
    origins = sorted(
        {origin(i["api_origin"]) for i in issuers}
        | {origin(u) for i in issuers for u in i["rpc_urls"]}
    )
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {csp_hash(script)}",
            f"style-src {csp_hash(style)}",
            "connect-src " + " ".join(origins),
            "img-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def build(issuers_file: Path = ISSUERS) -> bytes:
    """The verifier's HTML, the same bytes for the same sources."""
    issuers = pinned_issuers(json.loads(issuers_file.read_text(encoding="utf-8")))
    prelude = (
        '(typeof window !== "undefined" ? window : globalThis).CARDTRAIL_SELECTORS = '
        + json.dumps(selectors(), sort_keys=True)
        + ";\n"
    )
    script = prelude + "\n".join(p.read_text(encoding="utf-8") for p in SCRIPTS)
    style = "\n".join(p.read_text(encoding="utf-8") for p in STYLES)
    if "</script" in script.lower() or "</style" in style.lower():
        raise ValueError("an inlined source would close its element early")
    page = (SOURCES / "page.html").read_text(encoding="utf-8")
    csp = content_security_policy(script, style, issuers)
    values = {
        "CSP": csp,
        "STYLE": style,
        "ISSUERS": data_block({"issuers": issuers}),
        "MESSAGES": data_block(browser_messages()),
        "SCRIPT": script,
    }
    # One pass over the template: no inserted text is searched for placeholders.
    return PLACEHOLDER.sub(lambda m: values[m[1]], page).encode()


def main(argv: list[str] | None = None) -> None:
    """Write the verifier and print its SHA-256."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuers", type=Path, default=ISSUERS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    html = build(args.issuers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(html)
    print(f"{hashlib.sha256(html).hexdigest()}  {args.out}")


if __name__ == "__main__":
    main()
