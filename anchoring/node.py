"""Local EVM nodes for development and tests: anvil (npm ``@foundry-rs/anvil``) and the
Hardhat node, always bound to 127.0.0.1.

anvil keeps its chain in a state file (``--state``) that it loads on start and writes on a
clean exit and every few seconds, so a restarted ``cardtrail up`` finds its contract and
checkpoints again. anvil runs with umask 077, so the state it writes and its log are the
owner's alone (0600); a state file or log an older version left readable is tightened.

    >>> from anchoring.node import free_port
    >>> 1024 < free_port() < 65536
    True
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from anchoring.errors import AnchoringError
from anchoring.permissions import PRIVATE_DIRECTORY_MODE, PRIVATE_FILE_MODE, tighten

HOST = "127.0.0.1"
PROJECT_DIR = Path(__file__).resolve().parent.parent
# The state file is rewritten this often, so a crash of anvil itself loses seconds, not the chain.
STATE_INTERVAL_SECONDS = 5


class NodeError(AnchoringError):
    """A local node could not be started (binary missing, port taken, not ready in time)."""


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that is free right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something already listens on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def anvil_binary() -> Path:
    """The anvil executable: ANVIL_BIN, the project's npm package, or anvil on PATH."""
    candidates = [os.environ.get("ANVIL_BIN"), PROJECT_DIR / "node_modules" / ".bin" / "anvil"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise NodeError("anvil not found: run `npm install` in the project (package @foundry-rs/anvil)")


def rpc_call(url: str, method: str, params: Sequence[object] = (), timeout: float = 5.0) -> object:
    """One JSON-RPC call with the standard library (no web3 needed to probe a node)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.load(response)
    if "error" in answer:
        raise NodeError(f"{method} failed: {answer['error'].get('message', answer['error'])}")
    return answer.get("result")


class LocalNode:
    """A node process that this process started; :meth:`stop` ends it and its children."""

    def __init__(self, kind: str, process: subprocess.Popen[bytes], port: int, log_path: Path):
        self.kind = kind
        self.process = process
        self.port = port
        self.log_path = log_path

    @property
    def url(self) -> str:
        """The node's JSON-RPC endpoint."""
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the node answers ``eth_chainId``; raise NodeError if it dies or times out."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise NodeError(
                    f"{self.kind} exited with status {self.process.returncode} before it was "
                    f"ready; its output is in {self.log_path}:\n{self._log_tail()}"
                )
            try:
                rpc_call(self.url, "eth_chainId", timeout=1.0)
                return
            except (OSError, urllib.error.URLError, ValueError, NodeError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise NodeError(f"{self.kind} on {self.url} not ready after {timeout:.0f} s")
            time.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the node to exit (SIGINT: anvil writes its state file then) and wait for it."""
        if self.process.poll() is not None:
            return
        try:
            # The node runs in its own session, so its group holds it and its children only.
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            self.process.wait()

    def kill(self) -> None:
        """End the node at once, as a crash would (no state written)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(
    kind: str, argv: list[str], port: int, log_path: Path, cwd: Path | None, umask: int = -1
) -> LocalNode:
    if port_in_use(port):
        raise NodeError(
            f"port {port} on {HOST} is already in use (another node or `cardtrail up`?); "
            "choose another with --chain-port"
        )
    log_path.parent.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
    tighten(log_path)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    with open(fd, "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            # Its own session: a Ctrl-C in the terminal reaches CardTrail, which then stops
            # the node after the worker, in order.
            start_new_session=True,
            umask=umask,
        )
    return LocalNode(kind, process, port, log_path)


def start_anvil(
    port: int,
    *,
    state_path: Path | None = None,
    log_path: Path,
    block_time: float | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 30.0,
) -> LocalNode:
    """Start anvil on 127.0.0.1:``port``, keeping its chain in ``state_path`` if given."""
    # No prefunded dev accounts: their well-known private keys would land in the log, and
    # CardTrail funds its own keystore account instead (see chain.fund_dev_account).
    argv = [str(anvil_binary()), "--host", HOST, "--port", str(port), "--accounts", "0"]
    if state_path is not None:
        state_path.parent.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
        tighten(state_path)
        argv += ["--state", str(state_path), "--state-interval", str(STATE_INTERVAL_SECONDS)]
    if block_time is not None:
        argv += ["--block-time", str(block_time)]
    argv += list(extra_args)
    # Whatever anvil writes (the chain's state, under the data directory) is the owner's only.
    node = _spawn("anvil", argv, port, log_path, None, umask=0o077)
    node.wait_ready(timeout)
    return node


def start_hardhat(
    port: int, *, log_path: Path, project_dir: Path = PROJECT_DIR, timeout: float = 60.0
) -> LocalNode:
    """Start the Hardhat node of ``project_dir`` (its hardhat.config.js) on 127.0.0.1:``port``."""
    hardhat = project_dir / "node_modules" / ".bin" / "hardhat"
    if not hardhat.is_file():
        raise NodeError(f"hardhat not found in {project_dir}: run `npm install`")
    argv = [str(hardhat), "node", "--hostname", HOST, "--port", str(port)]
    node = _spawn("hardhat", argv, port, log_path, project_dir)
    node.wait_ready(timeout)
    return node
