"""The anchoring key: an encrypted eth-account keystore, never a plain private key.

Production names a keystore (ANCHOR_KEYSTORE) and its password (ANCHOR_KEYSTORE_PASSWORD
or ANCHOR_KEYSTORE_PASSWORD_FILE). In development (no CHAIN_RPC_URL) a keystore and a
generated password file (both 0600) are created in the data directory on first use.
The decrypted key lives only inside :class:`AnchorKey`, whose ``repr`` shows the address.

    >>> import tempfile, pathlib
    >>> from anchoring.keys import create_keystore, load_keystore
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "key.json"
    >>> key = create_keystore(path, "correct horse", kdf="pbkdf2", iterations=2)
    >>> load_keystore(path, "correct horse").address == key.address
    True
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from eth_account import Account
from eth_account.datastructures import SignedTransaction
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress

from anchoring.errors import KeystoreError
from anchoring.permissions import PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE

DEV_KEYSTORE = "anchor-keystore.json"
DEV_PASSWORD = "anchor-keystore.password"


class AnchorKey:
    """A decrypted signing key that never shows itself.

    Only the address is public; the key signs transactions and nothing else leaves.
    """

    __slots__ = ("_account",)

    def __init__(self, account: LocalAccount) -> None:
        self._account = account

    @property
    def address(self) -> ChecksumAddress:
        """The checksummed ``0x`` address of the key."""
        return self._account.address

    def sign_transaction(self, tx: Mapping[str, Any]) -> SignedTransaction:
        """Sign a transaction dictionary (EIP-1559 or legacy), e.g. web3's ``TxParams``."""
        return self._account.sign_transaction(dict(tx))

    def __repr__(self) -> str:
        return f"AnchorKey(address={self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would write the raw key to wherever the pickle goes.
        raise TypeError("AnchorKey cannot be pickled")


def write_private_file(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (FileExistsError if it exists) and write ``text``.

    The mode is set at creation, so no other user can ever read it; the data reaches the
    disk before this returns, as a lost key file would lose the key for good. A missing
    parent directory is created 0700.
    """
    path.parent.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def create_keystore(
    path: Path,
    password: str,
    *,
    kdf: Literal["pbkdf2", "scrypt"] | None = None,
    iterations: int | None = None,
) -> AnchorKey:
    """Generate a new key, write it encrypted to ``path`` (0600, must not exist), return it."""
    account = Account.create()
    keystore = Account.encrypt(account.key, password, kdf=kdf, iterations=iterations)
    try:
        write_private_file(path, json.dumps(keystore))
    except FileExistsError:
        raise KeystoreError(f"keystore {path} already exists") from None
    except OSError as exc:
        raise KeystoreError(f"cannot write keystore {path}: {exc.strerror}") from None
    return AnchorKey(account)


def load_keystore(path: Path, password: str) -> AnchorKey:
    """Decrypt the keystore at ``path``; errors name the file, never the password."""
    try:
        keystore = json.loads(Path(path).read_text())
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror}") from None
    except ValueError:
        raise KeystoreError(f"keystore {path} is not JSON") from None
    try:
        private_key = Account.decrypt(keystore, password)
    except ValueError:
        # eth-keyfile says "MAC mismatch" for a wrong password; the cause is dropped so
        # that no traceback carries key material from the decryption frames.
        raise KeystoreError(
            f"cannot decrypt keystore {path}: wrong password or corrupt file"
        ) from None
    except (KeyError, TypeError):
        raise KeystoreError(f"keystore {path} is not an eth-account keystore") from None
    return AnchorKey(Account.from_key(private_key))


def dev_keystore(data_dir: Path) -> AnchorKey:
    """The development key of ``data_dir``: created with a random password on first use."""
    keystore = data_dir / DEV_KEYSTORE
    password_file = data_dir / DEV_PASSWORD
    if not password_file.exists():
        if keystore.exists():
            raise KeystoreError(
                f"{keystore} exists but its password file {password_file} is missing"
            )
        try:
            write_private_file(password_file, secrets.token_urlsafe(32))
        except FileExistsError:
            pass  # another process got there first: use its password
    password = password_file.read_text().strip()
    if not keystore.exists():
        try:
            return create_keystore(keystore, password)
        except KeystoreError:
            if not keystore.exists():
                raise
    return load_keystore(keystore, password)


def resolve_key(
    *, keystore: Path | None, password: str | None, data_dir: Path, dev_mode: bool
) -> AnchorKey:
    """The anchoring key for a deployment.

    A configured keystore always wins and needs a password. Without one, only development
    mode may fall back to the data directory's generated keystore.
    """
    if keystore is not None:
        if password is None:
            raise KeystoreError(
                "ANCHOR_KEYSTORE is set but neither ANCHOR_KEYSTORE_PASSWORD nor "
                "ANCHOR_KEYSTORE_PASSWORD_FILE is"
            )
        return load_keystore(keystore, password)
    if not dev_mode:
        raise KeystoreError(
            "CHAIN_RPC_URL is set, so ANCHOR_KEYSTORE must name the anchoring keystore"
        )
    return dev_keystore(data_dir)
