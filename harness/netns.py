"""Hosts on one machine, each in a network namespace of its own, joined by a bridge.

A test that places processes on several "hosts" runs each host's processes inside its
namespace (``ip netns exec``), so a host reaches the others only through the network:
cutting a host's link (``cut``) is a real network cut, with the TCP connections left
"established" and silent, as on a real network.  The test process itself sits on the
bridge, like an operator's machine on the same network.

Invariants:
- Names (namespaces, links) carry a random tag, so tests running at once never collide,
  and ``close`` removes everything a :class:`Hosts` made, whatever state it is in.
- Needs root (``ip netns``); :func:`isolation_available` says whether the machine allows
  it.  Without it, hosts are loopback addresses (127.0.x.y) in the test's own namespace,
  which still separates their ports but cannot be cut.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ip", *args], check=check, capture_output=True)


def isolation_available() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@dataclass
class Hosts:
    names: list[str]
    isolated: bool
    tag: str = field(default_factory=lambda: f"{random.randrange(16**4):04x}")
    addresses: dict[str, str] = field(default_factory=dict)
    _subnet: str = ""
    _made: list[tuple[str, str]] = field(default_factory=list)  # ("netns"|"link", name)

    def start(self) -> None:
        if not self.isolated:
            third = random.randrange(1, 250)
            for index, name in enumerate(self.names):
                self.addresses[name] = f"127.{third}.{index}.{random.randrange(2, 250)}"
            return
        self._subnet = f"10.{random.randrange(100, 250)}.{random.randrange(256)}"
        bridge = f"bb{self.tag}"
        _ip("link", "add", bridge, "type", "bridge")
        self._made.append(("link", bridge))
        _ip("addr", "add", f"{self._subnet}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for index, name in enumerate(self.names):
            namespace = self.namespace(name)
            _ip("netns", "add", namespace)
            self._made.append(("netns", namespace))
            outer, inner = self._links(name)
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            self._made.append(("link", outer))
            _ip("link", "set", inner, "netns", namespace)
            _ip("link", "set", outer, "master", bridge)
            _ip("link", "set", outer, "up")
            address = f"{self._subnet}.{index + 2}"
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inner)
            _ip("-n", namespace, "link", "set", inner, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            self.addresses[name] = address

    @property
    def outside(self) -> str:
        """The address of the test's own namespace on the hosts' network (the bridge)."""
        return f"{self._subnet}.1" if self.isolated else "127.0.0.1"

    def namespace(self, host: str) -> str:
        return f"bn{self.tag}{self.names.index(host)}"

    def _links(self, host: str) -> tuple[str, str]:
        index = self.names.index(host)
        return f"bv{self.tag}{index}", f"bi{self.tag}{index}"

    def command(self, host: str, argv: list[str]) -> list[str]:
        """``argv`` as it runs on ``host``."""
        if not self.isolated:
            return argv
        return ["ip", "netns", "exec", self.namespace(host), *argv]

    def cut(self, host: str) -> None:
        """Take ``host`` off the network (its link goes down; connections stay open)."""
        if not self.isolated:
            raise RuntimeError("a network cut needs hosts in network namespaces (root)")
        _ip("link", "set", self._links(host)[0], "down")

    def heal(self, host: str) -> None:
        _ip("link", "set", self._links(host)[0], "up")

    def close(self) -> None:
        for kind, name in reversed(self._made):
            if kind == "netns":
                _ip("netns", "del", name, check=False)
            else:
                _ip("link", "del", name, check=False)
        self._made.clear()


@contextmanager
def hosts(names: list[str]) -> Iterator[Hosts]:
    made = Hosts(names, isolation_available())
    try:
        made.start()
        yield made
    finally:
        made.close()
