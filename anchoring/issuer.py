"""Issuer descriptors (``cardtrail-issuer/1``): which contract on which chain speaks for an
issuer, so that a verifier pins it instead of believing the contract a bundle names.

The issuer publishes its descriptor at ``/.well-known/cardtrail-issuer.json`` and anyone
may keep a copy (docs/issuer.md). :func:`parse_descriptor` validates one and returns the
model; every error names the member at fault. Pure: fetching lives in
:mod:`anchoring.issuer_fetch`.

    >>> from anchoring.issuer import parse_descriptor
    >>> d = parse_descriptor({
    ...     "format": "cardtrail-issuer/1",
    ...     "name": {"zh": "示例酒业", "en": "Example Liquor"},
    ...     "chain_id": 31337, "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    ...     "deployment_block": 1, "api_origin": "https://cards.example.com",
    ...     "rpc_urls": ["https://rpc.example.com"]})
    >>> d.pin().chain_id, d.serves
    (31337, 'cardtrail-bundle/1')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from anchoring.bundle import MAX_SAFE_INTEGER, PinnedIssuer
from anchoring.errors import Error

FORMAT = "cardtrail-issuer/1"
BUNDLE_FORMATS = ("cardtrail-bundle/1", "cardtrail-bundle/2")
"""The bundle formats an issuer may say it serves (``serves``)."""

WELL_KNOWN_PATH = "/.well-known/cardtrail-issuer.json"
"""Where a CardTrail portal serves its issuer's descriptor."""

MAX_NAME_LENGTH = 200
MAX_RPC_URLS = 16

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class DescriptorError(Error, ValueError):
    """An issuer descriptor is malformed or cannot be loaded; the message says why."""


@dataclass(frozen=True)
class IssuerDescriptor:
    """A validated ``cardtrail-issuer/1`` document."""

    name_zh: str
    name_en: str
    chain_id: int
    contract: str
    deployment_block: int
    api_origin: str
    rpc_urls: tuple[str, ...]
    serves: str = BUNDLE_FORMATS[0]

    def pin(self, source: str = "the issuer descriptor") -> PinnedIssuer:
        """The pin a verifier checks bundles against; ``source`` names where it came from."""
        return PinnedIssuer(self.chain_id, self.contract, serves=self.serves, source=source)

    def to_json(self) -> dict[str, Any]:
        """The descriptor document, members in a stable order."""
        return {
            "format": FORMAT,
            "name": {"zh": self.name_zh, "en": self.name_en},
            "chain_id": self.chain_id,
            "contract": self.contract,
            "deployment_block": self.deployment_block,
            "api_origin": self.api_origin,
            "rpc_urls": list(self.rpc_urls),
            "serves": self.serves,
        }


def _int(raw: Mapping[str, Any], key: str, minimum: int) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value:
        raise DescriptorError(f"{key} must be an integer ≥ {minimum}, got {value!r}")
    if value > MAX_SAFE_INTEGER:
        raise DescriptorError(f"{key} must be at most 2^53 - 1, got {value}")
    return value


def _name(names: Mapping[str, Any], language: str) -> str:
    value = names.get(language)
    if not isinstance(value, str) or not value.strip():
        raise DescriptorError(f"name.{language} must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise DescriptorError(f"name.{language} is longer than {MAX_NAME_LENGTH} characters")
    return value.strip()


def http_url(value: object, where: str, origin_only: bool = False) -> str:
    """``value`` checked to be an http(s) URL (an origin only when ``origin_only``).

    >>> http_url("https://Cards.Example.com/", "api_origin", origin_only=True)
    'https://cards.example.com'
    """
    if not isinstance(value, str):
        raise DescriptorError(f"{where} must be a string")
    parts = urlsplit(value.strip())
    try:
        port = parts.port
    except ValueError:
        raise DescriptorError(f"{where} has an invalid port: {value!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DescriptorError(f"{where} must be an http:// or https:// URL, got {value!r}")
    if parts.username is not None or parts.password is not None:
        raise DescriptorError(f"{where} must not carry a user name or password")
    if not origin_only:
        return value.strip()
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise DescriptorError(f"{where} must be an origin (scheme://host[:port]), got {value!r}")
    return f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")


def parse_descriptor(raw: Any) -> IssuerDescriptor:
    """Validate a decoded descriptor; raise :class:`DescriptorError` naming the bad member.

    Members this version does not know are ignored, so that later versions of the format
    can add some without breaking older verifiers.
    """
    if not isinstance(raw, dict):
        raise DescriptorError("an issuer descriptor must be a JSON object")
    if raw.get("format") != FORMAT:
        raise DescriptorError(f"unknown format {str(raw.get('format'))[:40]!r}, want {FORMAT!r}")
    names = raw.get("name")
    if not isinstance(names, dict):
        raise DescriptorError('name must be an object {"zh": …, "en": …}')
    contract = raw.get("contract")
    if not isinstance(contract, str) or not _ADDRESS.fullmatch(contract):
        raise DescriptorError("contract must be a 0x-prefixed 20-byte address")
    rpc_urls = raw.get("rpc_urls")
    if not isinstance(rpc_urls, list) or len(rpc_urls) > MAX_RPC_URLS:
        raise DescriptorError(f"rpc_urls must be an array of at most {MAX_RPC_URLS} URLs")
    serves = raw.get("serves", BUNDLE_FORMATS[0])
    if serves not in BUNDLE_FORMATS:
        raise DescriptorError(f"serves must be one of {', '.join(BUNDLE_FORMATS)}, got {serves!r}")
    return IssuerDescriptor(
        name_zh=_name(names, "zh"),
        name_en=_name(names, "en"),
        chain_id=_int(raw, "chain_id", 1),
        contract=contract,
        deployment_block=_int(raw, "deployment_block", 0),
        api_origin=http_url(raw.get("api_origin"), "api_origin", origin_only=True),
        rpc_urls=tuple(http_url(u, f"rpc_urls[{i}]") for i, u in enumerate(rpc_urls)),
        serves=str(serves),
    )
