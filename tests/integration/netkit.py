"""Hosts for the multi-host tests: Linux network namespaces joined to this one by veth pairs.

Each :class:`Host` is a network namespace (``ip netns``) with one end of a veth pair; the
other end stays in the test's namespace, on a link-local /30 of its own. What runs "on" the
host is started through ``ip netns exec``, so the host sees only its own addresses, and its
traffic to the shared services (PostgreSQL, Redis, the chain node) crosses the veth link
to a :class:`Relays` forwarder listening on the near end of that link, which passes it on
to the service on 127.0.0.1. The services themselves keep listening on 127.0.0.1 only; the
relays and the hosts' servers listen on link-local addresses that only the namespaces on
the two ends of the link can reach (link-local addresses are never routed, and this
machine does not forward). Creating namespaces needs root (CAP_NET_ADMIN).

:func:`loopback_hosts` gives the same interface without namespaces: both hosts on
127.0.0.1, talking to the services directly. It is the fallback the test takes where
namespaces cannot be made (see tests/integration/test_two_hosts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from anchoring.node import HOST, free_port

# Link-local addresses (RFC 3927) for the veth links, one /30 per host.
_LINK_NETWORK = ipaddress.ip_network("169.254.0.0/16")
_IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"


class NamespacesUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, no ``ip``, no kernel support)."""


@dataclass(frozen=True)
class Host:
    """Where a host's processes run and how they and the test reach each other.

    ``address`` is where the host's own servers listen (and the test connects to them);
    ``gateway`` is where the host reaches the shared services; ``prefix`` runs a command
    on the host (``ip netns exec <name>``, or nothing on loopback).
    """

    name: str
    address: str
    gateway: str
    prefix: tuple[str, ...]
    namespace: str | None = None

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run on this host."""
        return [*self.prefix, *argv]

    def server_port(self) -> int:
        """A port for a server on this host: any in its own namespace, a free one on loopback."""
        return 8000 if self.namespace else free_port()


def _ip(*args: str) -> None:
    try:
        subprocess.run([_IP, *args], check=True, capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise NamespacesUnavailable(f"no `ip` command ({exc})") from None
    except subprocess.CalledProcessError as exc:
        raise NamespacesUnavailable(f"`ip {' '.join(args)}` failed: {exc.stderr.strip()}") from None


def _used_link_subnets() -> set[int]:
    """The third octets of link-local addresses already on this namespace's interfaces."""
    try:
        out = subprocess.run(
            [_IP, "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False
        ).stdout
    except OSError as exc:
        raise NamespacesUnavailable(f"no `ip` command ({exc})") from None
    used = set()
    for word in out.split():
        with contextlib.suppress(ValueError):
            interface = ipaddress.ip_interface(word)
            if interface.ip in _LINK_NETWORK:
                used.add(interface.ip.packed[2])
    return used


@contextlib.contextmanager
def namespace_hosts(names: list[str]) -> Iterator[list[Host]]:
    """One network namespace per name, each linked to this namespace by a veth pair.

    Raises :class:`NamespacesUnavailable` if they cannot be made. Everything made is removed
    at the end (the processes started on the hosts must be stopped before).
    """
    tag = os.getpid() % 100_000
    # A third octet that no other run on this machine uses now (runs can overlap in CI).
    used = _used_link_subnets()
    octet = next(o for o in ((tag + k) % 240 + 10 for k in range(240)) if o not in used)
    made: list[str] = []
    try:
        hosts = []
        for index, name in enumerate(names):
            namespace = f"ct{tag}{name}"
            near, far = f"ctn{tag}x{index}", f"ctf{tag}x{index}"  # at most 15 characters
            gateway = f"169.254.{octet}.{4 * index + 1}"
            address = f"169.254.{octet}.{4 * index + 2}"
            _ip("netns", "add", namespace)
            made.append(namespace)
            _ip("link", "add", near, "type", "veth", "peer", "name", far, "netns", namespace)
            _ip("addr", "add", f"{gateway}/30", "dev", near)
            _ip("link", "set", near, "up")
            _ip("-n", namespace, "addr", "add", f"{address}/30", "dev", far)
            _ip("-n", namespace, "link", "set", far, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            hosts.append(Host(name, address, gateway, (_IP, "netns", "exec", namespace), namespace))
        yield hosts
    finally:
        # Deleting a namespace deletes its veth end, and with it the near end.
        for namespace in made:
            subprocess.run([_IP, "netns", "del", namespace], capture_output=True, check=False)


def loopback_hosts(names: list[str]) -> list[Host]:
    """The fallback: every host on 127.0.0.1, reaching the services directly."""
    return [Host(name, HOST, HOST, ()) for name in names]


class Relays:
    """TCP forwarders in a background thread: each listens on one address and passes every
    connection on to a target, closing both sides when either closes (so a client killed
    on a host ends its database session at once, as a direct connection would)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.Server] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def add(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        """Forward connections to ``listen`` to ``target``."""
        handler = partial(self._connect, target)
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(handler, *listen), self._loop
        )
        self._servers.append(started.result(timeout=10))

    async def _connect(
        self, target: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, upstream_writer, writer), _pipe(upstream_reader, writer, upstream_writer)
        )

    def close(self) -> None:
        """Stop listening, drop every connection and stop the thread."""

        async def shut() -> None:
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            # Each connection's pipes close both of its sockets as they end.
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()


async def _pipe(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, other: asyncio.StreamWriter
) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        for writer in (sink, other):
            writer.close()
