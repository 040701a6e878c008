"""A real etcd for tests and benchmarks: one member on free ports, its data in a folder.

Invariants:
- Each :func:`etcd` is its own single-member cluster (own ports, own data folder), so
  tests share nothing; a restart keeps the data and the ports.
- etcd runs as bourse runs its own (control/etcd.py): a 1 s lease is honoured.
- Readiness is a real condition (``/health`` says true), polled with a deadline; stopping
  is SIGTERM, then SIGKILL past a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec

from bourse.coordination import CoordinatorSection, CoordinatorSettings, coordinator_settings
from control.etcd import etcd_command
from harness.cluster import free_ports


@dataclass
class Etcd:
    folder: Path
    client_port: int
    peer_port: int
    address: str = "127.0.0.1"  # where it listens (a bridge's address, for hosts in netns)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.folder / "etcd.log"

    @property
    def endpoint(self) -> str:
        return f"http://{self.address}:{self.client_port}"

    def settings(self, prefix: str = "/bourse/test", **options: int) -> CoordinatorSettings:
        """Coordinator settings for this etcd (``options``: the section's other keys)."""
        section = msgspec.convert(
            {"endpoints": [self.endpoint], "prefix": prefix, **options}, CoordinatorSection
        )
        return coordinator_settings(section, "test")

    def start(self, timeout_s: float = 20.0) -> None:
        peer = f"http://{self.address}:{self.peer_port}"
        command = etcd_command(self.folder, self.endpoint, peer, name="test")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)
            )
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"etcd exited: {self.read_log()}")
            try:
                answer = httpx.get(self.endpoint + "/health", timeout=0.5)
                if answer.status_code == 200 and answer.json().get("health") == "true":
                    return
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.02)  # the pace of polling, not a synchronisation
        raise TimeoutError(f"etcd not ready: {self.read_log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        if sig == signal.SIGTERM:
            process.send_signal(signal.SIGCONT)  # in case it was paused
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze etcd (SIGSTOP): its port takes connections and nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def read_log(self) -> str:
        return self.log_path.read_text()[-4000:] if self.log_path.exists() else ""


@contextmanager
def etcd(folder: Path, address: str = "127.0.0.1") -> Iterator[Etcd]:
    """A running etcd whose files are under ``folder``; stopped on the way out."""
    folder.mkdir(parents=True, exist_ok=True)
    client_port, peer_port = free_ports(2)
    server = Etcd(folder, client_port, peer_port, address)
    server.start()
    try:
        yield server
    finally:
        server.stop()
