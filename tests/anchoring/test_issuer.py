"""Issuer descriptors: what a valid one holds, and the member each bad one is refused for."""

from __future__ import annotations

import copy

import pytest
from issuerkit import DESCRIPTOR

from anchoring.issuer import DescriptorError, parse_descriptor

VALID = DESCRIPTOR


def test_valid_descriptor_parses_to_its_model_and_back():
    descriptor = parse_descriptor(VALID)
    assert (descriptor.name_zh, descriptor.name_en) == ("示例酒业", "Example Liquor")
    assert descriptor.contract == VALID["contract"] and descriptor.deployment_block == 3
    assert descriptor.rpc_urls == ("https://rpc.example.com", "http://127.0.0.1:8545")
    assert descriptor.to_json() == VALID
    assert parse_descriptor(descriptor.to_json()) == descriptor


def test_pin_carries_chain_contract_format_and_source():
    pin = parse_descriptor(VALID).pin("issuer.json")
    assert (pin.chain_id, pin.contract, pin.serves, pin.source) == (
        31337,
        VALID["contract"],
        "cardtrail-bundle/2",
        "issuer.json",
    )


def test_serves_defaults_to_version_1_and_unknown_members_are_ignored():
    raw = {k: v for k, v in VALID.items() if k != "serves"} | {"logo": "x.png"}
    assert parse_descriptor(raw).serves == "cardtrail-bundle/1"


def test_api_origin_is_normalised_to_scheme_host_port():
    raw = VALID | {"api_origin": "HTTPS://Cards.Example.com:8443/"}
    assert parse_descriptor(raw).api_origin == "https://cards.example.com:8443"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "cardtrail-issuer/9"}, "unknown format"),
        ({"name": "Example"}, "name must be an object"),
        ({"name": {"zh": "示例"}}, "name.en"),
        ({"name": {"zh": " ", "en": "Example"}}, "name.zh"),
        ({"name": {"zh": "示" * 201, "en": "Example"}}, "name.zh is longer"),
        ({"chain_id": 0}, "chain_id must be an integer ≥ 1"),
        ({"chain_id": "31337"}, "chain_id"),
        ({"chain_id": True}, "chain_id"),
        ({"chain_id": 2**53}, "chain_id must be at most"),
        ({"contract": "0x1234"}, "contract must be"),
        ({"deployment_block": -1}, "deployment_block"),
        ({"api_origin": "ftp://cards.example.com"}, "api_origin must be an http"),
        ({"api_origin": "https://cards.example.com/verify"}, "api_origin must be an origin"),
        ({"api_origin": "https://u:p@cards.example.com"}, "user name or password"),
        ({"rpc_urls": "https://rpc.example.com"}, "rpc_urls must be an array"),
        ({"rpc_urls": ["wss://rpc.example.com"]}, r"rpc_urls\[0\]"),
        ({"rpc_urls": ["https://rpc.example.com"] * 17}, "at most 16"),
        ({"serves": "cardtrail-bundle/7"}, "serves must be one of"),
    ],
)
def test_bad_descriptor_is_refused_naming_the_member(change, message):
    raw = copy.deepcopy(VALID) | change
    with pytest.raises(DescriptorError, match=message):
        parse_descriptor(raw)


def test_a_descriptor_that_is_not_an_object_is_refused():
    with pytest.raises(DescriptorError, match="must be a JSON object"):
        parse_descriptor([VALID])
