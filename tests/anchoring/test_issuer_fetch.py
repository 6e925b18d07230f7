"""Loading issuer descriptors from files and from a local HTTP server, within bounds."""

from __future__ import annotations

import json

import pytest
from issuerkit import DESCRIPTOR as VALID
from issuerkit import DRIP_SECONDS, serving

from anchoring import issuer_fetch
from anchoring.issuer import DescriptorError
from anchoring.issuer_fetch import MAX_DESCRIPTOR_BYTES, load_descriptor

BODY = json.dumps(VALID).encode()
JSON = {"Content-Type": "application/json"}


def test_descriptor_is_loaded_from_a_file(tmp_path):
    path = tmp_path / "issuer.json"
    path.write_bytes(BODY)
    assert load_descriptor(str(path)).contract == VALID["contract"]


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DescriptorError, match="nowhere.json"):
        load_descriptor(str(tmp_path / "nowhere.json"))


def test_invalid_descriptor_names_its_source_and_member(tmp_path):
    path = tmp_path / "issuer.json"
    path.write_text(json.dumps(VALID | {"chain_id": 0}))
    with pytest.raises(DescriptorError, match=r"issuer\.json: chain_id"):
        load_descriptor(str(path))


def test_descriptor_is_fetched_over_http():
    with serving({"/.well-known/cardtrail-issuer.json": (200, JSON, BODY)}) as base:
        descriptor = load_descriptor(base + "/.well-known/cardtrail-issuer.json")
    assert descriptor.chain_id == VALID["chain_id"]


def test_a_redirect_on_the_same_origin_is_followed():
    routes = {
        "/old": (301, {"Location": "/.well-known/cardtrail-issuer.json"}, b""),
        "/.well-known/cardtrail-issuer.json": (200, JSON, BODY),
    }
    with serving(routes) as base:
        assert load_descriptor(base + "/old").contract == VALID["contract"]


def test_a_redirect_to_another_host_is_refused():
    # 127.0.0.1 and localhost are the same machine but another host name: another origin.
    with serving({"/.well-known/cardtrail-issuer.json": (200, JSON, BODY)}) as target:
        elsewhere = target.replace("127.0.0.1", "localhost") + "/.well-known/cardtrail-issuer.json"
        with serving({"/issuer": (302, {"Location": elsewhere}, b"")}) as base:
            with pytest.raises(DescriptorError, match="redirected to another origin"):
                load_descriptor(base + "/issuer")


def test_a_body_beyond_the_size_bound_is_refused():
    huge = b" " * (MAX_DESCRIPTOR_BYTES + 1) + BODY
    with serving({"/issuer": (200, JSON, huge)}) as base:
        with pytest.raises(DescriptorError, match="larger than"):
            load_descriptor(base + "/issuer")


def test_a_fetch_past_its_time_bound_is_refused(monkeypatch):
    # A server that drips its answer keeps every read within the socket timeout; three
    # chunks, two pauses: the whole takes longer than the bound.
    monkeypatch.setattr(issuer_fetch, "FETCH_SECONDS", DRIP_SECONDS * 1.5)
    chunks = [BODY, b" ", b" "]
    with serving({"/issuer": (200, JSON, chunks)}) as base:
        with pytest.raises(DescriptorError, match="took longer than"):
            load_descriptor(base + "/issuer")


def test_an_error_status_is_reported():
    with serving({}) as base:
        with pytest.raises(DescriptorError, match="answered 404"):
            load_descriptor(base + "/missing")


def test_a_body_that_is_not_json_is_refused():
    with serving({"/issuer": (200, JSON, b"<html>")}) as base:
        with pytest.raises(DescriptorError, match="not JSON"):
            load_descriptor(base + "/issuer")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/issuer.json", "file:///etc/passwd"])
def test_only_http_and_https_urls_are_fetched(url):
    with pytest.raises(DescriptorError, match="only http:// and https://"):
        load_descriptor(url)
