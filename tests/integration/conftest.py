"""Real nodes for the integration tests: anvil and the Hardhat node, each behind a fault
injecting JSON-RPC proxy (see nodekit.py). Tests here are marked ``node`` and run on both.

The nodes start once per session on free ports on 127.0.0.1; each test gets a fresh key,
a fresh contract and a fresh database, so tests do not see each other's checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from nodekit import FaultProxy, Node

from anchoring.db import create_engine
from anchoring.keys import AnchorKey
from anchoring.node import LocalNode, free_port, start_anvil, start_hardhat
from anchoring.schema import metadata

NODES = ["anvil", "hardhat"]


@pytest.fixture(scope="session", params=NODES)
def node_process(request, tmp_path_factory) -> Iterator[tuple[str, LocalNode]]:
    logs = tmp_path_factory.mktemp(f"{request.param}-node")
    if request.param == "anvil":
        process = start_anvil(free_port(), log_path=logs / "anvil.log")
    else:
        process = start_hardhat(free_port(), log_path=logs / "hardhat.log")
    yield request.param, process
    process.stop()


@pytest.fixture
def node(node_process) -> Iterator[Node]:
    kind, process = node_process
    proxy = FaultProxy(process.url)
    result = Node(kind, process, proxy)
    try:
        yield result
    finally:
        proxy.close()
        result.automine(True)


@pytest.fixture
def key(node) -> AnchorKey:
    """A fresh, funded anchoring key."""
    fresh = AnchorKey(Account.create())
    node.fund(fresh.address)
    return fresh


@pytest.fixture
def db(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'cardtrail.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()
