"""The store device's key: an encrypted eth-account keystore in the client's home folder.

``keygen`` makes it and writes the store id beside it (``store.json``); headquarters
registers the printed address for the store. Only the address ever shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_account import Account

from anchoring.keys import write_private_file
from ledger_service import devices
from store_client.errors import StoreClientError

KEYSTORE = "device-keystore.json"
CONFIG = "store.json"


class DeviceKey:
    """The store device's decrypted key; only its address ever shows."""

    __slots__ = ("_key", "address")

    def __init__(self, private_key: bytes) -> None:
        self._key = private_key
        self.address = str(Account.from_key(private_key).address)

    def sign(
        self, command: devices.StoreCommand, domain: devices.SigningDomain
    ) -> devices.DeviceSignature:
        """Sign one store command for the deployment ``domain``."""
        return devices.sign(command, self._key, domain)

    def __repr__(self) -> str:
        return f"DeviceKey(address={self.address})"

    def __reduce__(self) -> Any:
        raise TypeError("a DeviceKey cannot be pickled")


def create_keystore(home: Path, store_id: str, password: str, work: int | None = None) -> str:
    """Make a new device key in ``home`` (encrypted, 0600); returns its address.

    ``work`` is the scrypt cost (default eth-account's); tests lower it.
    """
    path = home / KEYSTORE
    if path.exists():
        raise StoreClientError(f"{path} exists: this device already has a key")
    account = Account.create()
    keystore = Account.encrypt(account.key, password, kdf="scrypt", iterations=work)
    write_private_file(path, json.dumps(keystore))
    (home / CONFIG).write_text(json.dumps({"store_id": store_id, "address": account.address}))
    return str(account.address)


def load_key(home: Path, password: str) -> DeviceKey:
    """Decrypt the device key of ``home``."""
    path = home / KEYSTORE
    try:
        keystore = json.loads(path.read_text())
    except OSError as exc:
        raise StoreClientError(f"no device key at {path}: run keygen first") from exc
    try:
        return DeviceKey(bytes(Account.decrypt(keystore, password)))
    except ValueError:
        raise StoreClientError("wrong password for the device keystore") from None


def load_config(home: Path) -> dict[str, str]:
    """The store id and address written by keygen."""
    try:
        return dict(json.loads((home / CONFIG).read_text()))
    except OSError:
        raise StoreClientError(f"{home} has no device set up: run keygen first") from None
