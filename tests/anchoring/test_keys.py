"""The anchoring key: keystores in, signatures out, secrets never shown."""

from __future__ import annotations

import pickle
import stat

import pytest

from anchoring.errors import KeystoreError
from anchoring.keys import (
    DEV_KEYSTORE,
    DEV_PASSWORD,
    create_keystore,
    dev_keystore,
    load_keystore,
    resolve_key,
)

PASSWORD = "s3cret-pass-phrase"
FAST = {"kdf": "pbkdf2", "iterations": 2}


def _private_hex(key) -> str:
    return key._account.key.hex()


def test_keystore_round_trip_gives_the_same_address(tmp_path, usual_umask):
    path = tmp_path / "k.json"
    created = create_keystore(path, PASSWORD, **FAST)
    assert load_keystore(path, PASSWORD).address == created.address
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_keystore_is_encrypted_on_disk(tmp_path):
    path = tmp_path / "k.json"
    key = create_keystore(path, PASSWORD, **FAST)
    text = path.read_text()
    assert _private_hex(key).removeprefix("0x") not in text
    assert PASSWORD not in text


def test_wrong_password_is_refused_without_showing_it(tmp_path):
    path = tmp_path / "k.json"
    create_keystore(path, PASSWORD, **FAST)
    with pytest.raises(KeystoreError, match="cannot decrypt") as info:
        load_keystore(path, "not-the-password")
    assert "not-the-password" not in str(info.value)
    assert info.value.__cause__ is None


def test_existing_keystore_is_never_overwritten(tmp_path):
    path = tmp_path / "k.json"
    first = create_keystore(path, PASSWORD, **FAST)
    with pytest.raises(KeystoreError, match="already exists"):
        create_keystore(path, PASSWORD, **FAST)
    assert load_keystore(path, PASSWORD).address == first.address


def test_repr_and_str_show_only_the_address(tmp_path):
    key = create_keystore(tmp_path / "k.json", PASSWORD, **FAST)
    secret = _private_hex(key).removeprefix("0x")
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert key.address in text
        assert secret not in text.lower()


def test_key_cannot_be_pickled(tmp_path):
    key = create_keystore(tmp_path / "k.json", PASSWORD, **FAST)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)


def test_signed_transaction_recovers_to_the_key_address(tmp_path):
    from eth_account import Account

    key = create_keystore(tmp_path / "k.json", PASSWORD, **FAST)
    tx = {"to": key.address, "value": 0, "gas": 21000, "gasPrice": 1, "nonce": 0, "chainId": 1}
    signed = key.sign_transaction(tx)
    assert Account.recover_transaction(signed.raw_transaction) == key.address


def test_dev_keystore_is_created_once_with_a_private_password_file(tmp_path, usual_umask):
    data = tmp_path / "data"
    first = dev_keystore(data)
    assert dev_keystore(data).address == first.address
    for name in (DEV_KEYSTORE, DEV_PASSWORD):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    assert len((data / DEV_PASSWORD).read_text().strip()) >= 32
    assert stat.S_IMODE(data.stat().st_mode) == 0o700, "a missing data directory is made 0700"


def test_dev_keystore_without_its_password_file_is_an_error(tmp_path):
    dev_keystore(tmp_path)
    (tmp_path / DEV_PASSWORD).unlink()
    with pytest.raises(KeystoreError, match="password file"):
        dev_keystore(tmp_path)


def test_configured_keystore_wins_over_the_dev_keystore(tmp_path):
    path = tmp_path / "prod.json"
    prod = create_keystore(path, PASSWORD, **FAST)
    key = resolve_key(keystore=path, password=PASSWORD, data_dir=tmp_path, dev_mode=True)
    assert key.address == prod.address
    assert not (tmp_path / DEV_KEYSTORE).exists()


def test_configured_keystore_needs_a_password(tmp_path):
    path = tmp_path / "prod.json"
    create_keystore(path, PASSWORD, **FAST)
    with pytest.raises(KeystoreError, match="ANCHOR_KEYSTORE_PASSWORD"):
        resolve_key(keystore=path, password=None, data_dir=tmp_path, dev_mode=False)


def test_a_real_chain_without_a_keystore_is_refused(tmp_path):
    with pytest.raises(KeystoreError, match="ANCHOR_KEYSTORE must"):
        resolve_key(keystore=None, password=None, data_dir=tmp_path, dev_mode=False)
    assert not (tmp_path / DEV_KEYSTORE).exists()
