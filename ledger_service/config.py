"""Settings from the environment (names fixed in DESIGN.md), one frozen value per process.

>>> from ledger_service.config import Settings
>>> s = Settings.from_env("/tmp/ct-doc", environ={})
>>> s.database_url.endswith("/tmp/ct-doc/cardtrail.db"), s.dev_mode
(True, True)
>>> s.base_url, s.trusted_hosts
('http://127.0.0.1:8000', ['127.0.0.1', 'localhost'])
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from anchoring.keys import write_private_file
from anchoring.permissions import private_directory

DEFAULT_DATA_DIR = ".cardtrail"

BASE_URL = "CARDTRAIL_PUBLIC_BASE_URL"
ISSUER_FILE = "CARDTRAIL_ISSUER_FILE"
DEV_ISSUER_FILE = "issuer.json"
"""The descriptor ``cardtrail up`` writes in the data directory when none is configured."""
DEV_BASE_URL = "http://127.0.0.1:8000"
"""The base URL in development: where ``cardtrail up`` serves by default."""

_LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]

TIMEZONE = "CARDTRAIL_TIMEZONE"
DEFAULT_TIMEZONE = "Asia/Shanghai"
"""The merchant's clock: business days, the counter's "today" and times on pages."""


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


_BASE_URL_REQUIRED = (
    f"{BASE_URL} is required when CHAIN_RPC_URL is set: the web app's external address, "
    "e.g. https://cards.example.com (QR codes and links are built from it)"
)


def _number(
    environ: Mapping[str, str], name: str, default: float, kind: type[int] | type[float]
) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")


def base_url_setting(raw: str) -> str:
    """``CARDTRAIL_PUBLIC_BASE_URL`` checked and normalised to ``scheme://host[:port]``.

    Only an origin: CardTrail serves from the root, and every absolute link it builds is
    this origin followed by the route's path.

        >>> base_url_setting("https://Cards.Example.com/")
        'https://cards.example.com'
    """
    parts = urlsplit(raw.strip())
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # not a number, or beyond 65535
        port_ok = False
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "must start with http:// or https://"
    elif not parts.hostname:
        problem = "must name a host"
    elif not port_ok:
        problem = "has an invalid port"
    elif ":" in parts.hostname:
        problem = "must name its host by a DNS name or an IPv4 address"
    elif parts.username is not None or parts.password is not None:
        problem = "must not carry a user name or password"
    elif parts.path not in ("", "/") or parts.query or parts.fragment or raw.strip()[-1] in "?#":
        problem = "must be an origin only, without a path, query or fragment"
    if problem:
        example = "e.g. https://cards.example.com"
        raise ConfigError(f"{BASE_URL} {problem} ({example}), got {raw!r}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def timezone_setting(raw: str) -> str:
    """``CARDTRAIL_TIMEZONE`` checked: an IANA zone name such as ``Asia/Shanghai``.

    >>> timezone_setting(" Europe/Berlin ")
    'Europe/Berlin'
    """
    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{TIMEZONE} must be an IANA time zone such as Asia/Shanghai, got {raw!r}"
        ) from None
    return name


GROUP_COMMIT_MS = "CARDTRAIL_GROUP_COMMIT_MS"
DEFAULT_GROUP_COMMIT_MS = 2.0
"""Group commit (ledger_service.service.sequencer): a web process gathers the commands that
arrive within this many milliseconds into one transaction and one commit (at most
``GROUP_LIMIT`` of them, 64); 0 turns it off, so that each command commits alone."""
_GROUP_COMMIT_MAX_MS = 1000.0


def group_commit_setting(environ: Mapping[str, str]) -> float:
    """``CARDTRAIL_GROUP_COMMIT_MS`` checked: milliseconds from 0 (off) to 1000.

    >>> group_commit_setting({}), group_commit_setting({GROUP_COMMIT_MS: "0"})
    (2.0, 0.0)
    """
    value = _number(environ, GROUP_COMMIT_MS, DEFAULT_GROUP_COMMIT_MS, float)
    if not value <= _GROUP_COMMIT_MAX_MS:  # also refuses nan
        raise ConfigError(
            f"{GROUP_COMMIT_MS} must be milliseconds from 0 (off) to {_GROUP_COMMIT_MAX_MS:g}, "
            f"got {environ.get(GROUP_COMMIT_MS)!r}"
        )
    return value


RATE_LIMIT_STORAGE = "CARDTRAIL_RATE_LIMIT_STORAGE"
_RATE_LIMIT_SCHEMES = ("memory", "redis", "rediss", "redis+unix")


def rate_limit_storage_setting(raw: str) -> str:
    """``CARDTRAIL_RATE_LIMIT_STORAGE`` checked: where the rate-limit counters live.

    >>> rate_limit_storage_setting("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    uri = raw.strip()
    if urlsplit(uri).scheme not in _RATE_LIMIT_SCHEMES or "://" not in uri:
        raise ConfigError(
            f"{RATE_LIMIT_STORAGE} must be memory:// (each process counts alone) or a Redis "
            f"URL such as redis://127.0.0.1:6379/0 (shared by every process), got {raw!r}"
        )
    return uri


@dataclass(frozen=True)
class Settings:
    """Everything a CardTrail process needs to know about its deployment."""

    data_dir: Path
    database_url: str
    chain_rpc_url: str | None = None
    anchor_interval: float = 2.0
    anchor_max_pending: int = 1000
    anchor_confirmations: int = 1
    anchor_keystore: Path | None = None
    anchor_keystore_password: str | None = field(default=None, repr=False)
    secret_key_file: Path | None = None
    chain_port: int = 8545
    public_rpc_url: str | None = None
    require_store_signatures: bool = False
    public_base_url: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    rate_limit_storage: str = "memory://"
    issuer_file: Path | None = None
    group_commit_ms: float = DEFAULT_GROUP_COMMIT_MS
    # CARDTRAIL_EXPIRY_INTERVAL: seconds between the expiry runs of `cardtrail up`; 0: none.
    expiry_interval: float = 60.0

    @classmethod
    def from_env(
        cls, data_dir: str | Path | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Read the settings; ``data_dir`` (e.g. from ``--data-dir``) beats the environment."""
        env = os.environ if environ is None else environ
        directory = Path(data_dir or env.get("CARDTRAIL_DATA_DIR") or DEFAULT_DATA_DIR)
        directory = directory.expanduser().absolute()
        password = env.get("ANCHOR_KEYSTORE_PASSWORD")
        password_file = env.get("ANCHOR_KEYSTORE_PASSWORD_FILE")
        if password is None and password_file:
            try:
                password = Path(password_file).read_text().rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(f"ANCHOR_KEYSTORE_PASSWORD_FILE: {exc.strerror}") from None
        keystore = env.get("ANCHOR_KEYSTORE")
        secret_file = env.get("CARDTRAIL_SECRET_KEY_FILE")
        issuer_file = env.get(ISSUER_FILE)
        base_url = env.get(BASE_URL) or None
        if base_url is None and env.get("CHAIN_RPC_URL"):
            raise ConfigError(_BASE_URL_REQUIRED)
        return cls(
            data_dir=directory,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{directory / 'cardtrail.db'}",
            chain_rpc_url=env.get("CHAIN_RPC_URL") or None,
            anchor_interval=_number(env, "ANCHOR_INTERVAL", 2.0, float),
            anchor_max_pending=int(_number(env, "ANCHOR_MAX_PENDING", 1000, int)),
            anchor_confirmations=int(_number(env, "ANCHOR_CONFIRMATIONS", 1, int)),
            anchor_keystore=Path(keystore) if keystore else None,
            anchor_keystore_password=password,
            secret_key_file=Path(secret_file) if secret_file else None,
            public_rpc_url=env.get("CARDTRAIL_PUBLIC_RPC_URL") or None,
            require_store_signatures=_flag(env, "CARDTRAIL_REQUIRE_STORE_SIGNATURES"),
            public_base_url=base_url_setting(base_url) if base_url else None,
            timezone=timezone_setting(env.get(TIMEZONE) or DEFAULT_TIMEZONE),
            rate_limit_storage=rate_limit_storage_setting(
                env.get(RATE_LIMIT_STORAGE) or "memory://"
            ),
            issuer_file=Path(issuer_file).expanduser().absolute() if issuer_file else None,
            group_commit_ms=group_commit_setting(env),
            expiry_interval=_number(env, "CARDTRAIL_EXPIRY_INTERVAL", 60.0, float),
        )

    @property
    def dev_mode(self) -> bool:
        """Development: no chain configured, so CardTrail runs its own local node."""
        return self.chain_rpc_url is None

    @property
    def zone(self) -> ZoneInfo:
        """The merchant's time zone (CARDTRAIL_TIMEZONE): where business days begin."""
        return ZoneInfo(self.timezone)

    @property
    def rpc_url(self) -> str:
        """The chain endpoint this deployment uses: configured, or the local node's."""
        return self.chain_rpc_url or f"http://127.0.0.1:{self.chain_port}"

    @property
    def base_url(self) -> str:
        """The web app's external origin, the only source of absolute links and QR codes:
        CARDTRAIL_PUBLIC_BASE_URL, or in development the local ``cardtrail up`` address.

        Never the request's Host: that is the client's to choose, and a QR code is cached.
        """
        if self.public_base_url:
            return self.public_base_url
        if self.dev_mode:
            return DEV_BASE_URL
        raise ConfigError(_BASE_URL_REQUIRED)

    @property
    def trusted_hosts(self) -> list[str]:
        """The host names requests may name: the base URL's (and loopback in development)."""
        host = urlsplit(self.base_url).hostname or ""
        return list(dict.fromkeys([host, *(_LOOPBACK_HOSTS if self.dev_mode else [])]))

    @property
    def issuer_descriptor_file(self) -> Path | None:
        """The issuer descriptor (``cardtrail-issuer/1``) the portal publishes and pins its
        pages to: CARDTRAIL_ISSUER_FILE, which the operator writes; in development without
        it, the one ``cardtrail up`` writes in the data directory from its own deployment.
        None in production without CARDTRAIL_ISSUER_FILE: nothing is published then.
        """
        if self.issuer_file is not None:
            return self.issuer_file
        return self.data_dir / DEV_ISSUER_FILE if self.dev_mode else None

    @property
    def browser_rpc_url(self) -> str:
        """The endpoint that visitors' browsers are told to ask (CARDTRAIL_PUBLIC_RPC_URL)."""
        return self.public_rpc_url or self.rpc_url

    def prepare_data_dir(self) -> Path:
        """Create the data directory 0700, or tighten one left readable by others; return it.

        It holds the database, the server secret and the development keystore.
        """
        return private_directory(self.data_dir)

    def secret_key(self) -> bytes:
        """The server secret that keys the hashes of redemption codes and API tokens.

        Kept outside the database so that a stolen database cannot be brute-forced
        offline. Created (0600) in the data directory on first use unless
        CARDTRAIL_SECRET_KEY_FILE names one.
        """
        path = self.secret_key_file or self.data_dir / "secret.key"
        if not path.exists():
            if self.secret_key_file:
                raise ConfigError(f"CARDTRAIL_SECRET_KEY_FILE {path} does not exist")
            try:
                write_private_file(path, secrets.token_hex(32))
            except FileExistsError:
                pass  # another process created it first: use theirs
        key = bytes.fromhex(path.read_text().strip())
        if len(key) < 32:
            raise ConfigError(f"secret key in {path} is shorter than 32 bytes")
        return key
