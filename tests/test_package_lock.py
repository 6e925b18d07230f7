"""package-lock.json is complete, so `make install` (`npm ci`) installs from it as it is.

`npm ci` refuses a lock that is out of step with package.json or that leaves out a
dependency, including the optional per-platform binaries of packages such as anvil (npm
installs only this machine's, but locks every platform's); `npm install` would instead
rewrite the lock and leave the clone changed. These tests read the two files; they need
neither npm nor the network."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
LOCK = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
LOCKED = LOCK["packages"]
ANVIL = "@foundry-rs/anvil"
# anvil's binary packages, one per platform its releases are built for: (os, cpu).
ANVIL_PLATFORMS = {
    "linux-amd64": ("linux", "x64"),
    "linux-arm64": ("linux", "arm64"),
    "darwin-amd64": ("darwin", "x64"),
    "darwin-arm64": ("darwin", "arm64"),
    "win32-amd64": ("win32", "x64"),
}
DEPENDENCY_FIELDS = ("dependencies", "devDependencies", "optionalDependencies")


def resolve(locked: Mapping[str, object], owner: str, name: str) -> str | None:
    """Where npm finds ``name`` required from the lock entry ``owner``: the nearest
    node_modules folder at or above ``owner`` that holds it, or None."""
    base = owner
    while True:
        key = f"{base}/node_modules/{name}" if base else f"node_modules/{name}"
        if key in locked:
            return key
        if not base:
            return None
        cut = base.rfind("/node_modules/")
        base = base[:cut] if cut >= 0 else ""


def test_lock_root_declares_what_package_json_declares():
    root = LOCKED[""]
    assert LOCK["lockfileVersion"] == 3 and LOCK["name"] == PACKAGE["name"] == root["name"]
    for field in DEPENDENCY_FIELDS:
        assert root.get(field, {}) == PACKAGE.get(field, {}), field


@pytest.mark.parametrize("name", sorted(PACKAGE["devDependencies"]))
def test_each_pinned_package_is_locked_at_its_pinned_version(name):
    assert LOCKED[f"node_modules/{name}"]["version"] == PACKAGE["devDependencies"][name]


def test_every_dependency_of_every_locked_package_is_locked():
    # Optional ones too, whatever the platform: that is what `npm ci` checks the lock for.
    missing = [
        f"{owner or 'package.json'} -> {name} ({field})"
        for owner, entry in LOCKED.items()
        for field in DEPENDENCY_FIELDS
        for name in entry.get(field, {})
        if resolve(LOCKED, owner, name) is None
    ]
    assert not missing


def test_every_locked_package_carries_an_integrity_hash():
    assert [key for key, entry in LOCKED.items() if key and "integrity" not in entry] == []


def test_anvils_binary_for_every_platform_is_locked_at_anvils_version():
    version = PACKAGE["devDependencies"][ANVIL]
    declared = LOCKED[f"node_modules/{ANVIL}"]["optionalDependencies"]
    assert declared == {f"{ANVIL}-{platform}": version for platform in ANVIL_PLATFORMS}
    for platform, (os_name, cpu) in ANVIL_PLATFORMS.items():
        entry = LOCKED[f"node_modules/{ANVIL}-{platform}"]
        assert entry["version"] == version, platform
        assert (entry["os"], entry["cpu"], entry["optional"]) == ([os_name], [cpu], True)


def test_resolve_takes_the_nearest_copy_up_the_folders():
    locked = {
        "": {},
        "node_modules/a": {},
        "node_modules/a/node_modules/b": {},
        "node_modules/b": {},
        "node_modules/c": {},
    }
    assert resolve(locked, "node_modules/a", "b") == "node_modules/a/node_modules/b"
    assert resolve(locked, "node_modules/a/node_modules/b", "c") == "node_modules/c"
    assert resolve(locked, "node_modules/c", "b") == "node_modules/b"
    assert resolve(locked, "", "d") is None
