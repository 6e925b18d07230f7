"""Helpers for the integration tests: a fault-injecting JSON-RPC proxy, a handle on a
running node, and the checks every fault test ends with."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from apptools import event_leaf
from eth_utils import keccak

from anchoring import chain as chain_mod
from anchoring import checkpoints as cp
from anchoring.db import read_transaction, write_transaction
from anchoring.log import MerkleLog
from anchoring.node import LocalNode, free_port, rpc_call
from anchoring.types import Checkpoint


class FaultProxy:
    """A JSON-RPC proxy in front of a node that can fail on request.

    ``mode``: "pass" forwards everything; "down" drops every connection without an
    answer (the node looks unreachable); "error" answers every call with a JSON-RPC
    error; "drop_send" swallows eth_sendRawTransaction (answering with the hash, as a
    node that loses the transaction would) and forwards the rest.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.swallowed: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mode = proxy.mode
                if mode == "down":
                    self.close_connection = True
                    self.connection.close()
                    return
                request = json.loads(body)
                if mode == "error":
                    answer = {
                        "jsonrpc": "2.0",
                        "id": request.get("id"),
                        "error": {"code": -32603, "message": "injected node failure"},
                    }
                    return self._reply(json.dumps(answer).encode())
                if mode == "drop_send" and request.get("method") == "eth_sendRawTransaction":
                    raw = bytes.fromhex(request["params"][0].removeprefix("0x"))
                    tx_hash = "0x" + keccak(raw).hex()
                    proxy.swallowed.append(tx_hash)
                    answer = {"jsonrpc": "2.0", "id": request.get("id"), "result": tx_hash}
                    return self._reply(json.dumps(answer).encode())
                forward = urllib.request.Request(
                    proxy.upstream, data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(forward, timeout=30) as response:
                    self._reply(response.read())

            def _reply(self, payload: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Node:
    """A running node, its direct URL and the proxy in front of it."""

    kind: str
    process: LocalNode
    proxy: FaultProxy

    @property
    def direct_url(self) -> str:
        return self.process.url

    def rpc(self, method: str, *params: object) -> object:
        """A call straight to the node (around the proxy)."""
        return rpc_call(self.direct_url, method, params)

    def vendor(self, name: str, *params: object) -> object:
        """A node-specific call: ``anvil_<name>`` or ``hardhat_<name>``."""
        prefix = "anvil" if self.kind == "anvil" else "hardhat"
        return self.rpc(f"{prefix}_{name}", *params)

    def fund(self, address: str, wei: int = 10**21) -> None:
        self.vendor("setBalance", address, hex(wei))

    def automine(self, on: bool) -> None:
        self.rpc("evm_setAutomine", on)

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.rpc("evm_mine")


def append(engine, count: int) -> int:
    """Append ``count`` events in one transaction; returns the new log size."""
    with write_transaction(engine) as conn:
        log = MerkleLog(conn)
        size = log.lock_head()
        log.append([event_leaf(size + i) for i in range(count)])
        return size + count


def log_head(engine) -> Checkpoint:
    with read_transaction(engine) as conn:
        return MerkleLog(conn).checkpoint()


def assert_promises_hold(engine, rpc_url: str) -> None:
    """No acknowledged event lost, no size anchored twice, contract == log head."""
    head = log_head(engine)
    with read_transaction(engine) as conn:
        deployment = cp.current_deployment(conn)
        latest = cp.latest_anchored(conn)
        records = cp.checkpoint_records(conn, deployment, cp.ANCHORED)
    assert chain_mod.AnchorReader(rpc_url, deployment.contract).latest_checkpoint() == head
    assert latest is not None and latest.checkpoint == head
    sizes = [r.tree_size for r in records]
    assert len(sizes) == len(set(sizes)), f"a tree size was anchored twice: {sizes}"
    on_chain = chain_mod.AnchorReader(rpc_url, deployment.contract)
    for record in records:
        assert on_chain.root_at(record.tree_size) == record.anchored.checkpoint.root


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
