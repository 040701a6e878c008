"""An exchange run the way an operator runs it: ``bourse run --host NAME`` per host, each
supervisor starting and restarting that host's processes.

The config is the harness's (free ports on loopback, several feed relays if asked),
rewritten to place processes on more hosts (each a loopback address of its own,
127.0.0.x).  Every supervisor writes its own log, its children's lines included; each JSON
line names the process that wrote it.

Nothing here sleeps to synchronise: waits poll a real condition with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bourse.config import Config, load_config
from harness.cluster import ROOT, write_config
from transport.keys import ensure_pairs

DEADLINE_S = 60.0


def place_on_edge(text: str, address: str = "127.0.0.2") -> str:
    """The gateway and the feed on a second host, ``edge``."""
    text = text.replace(
        '[hosts.local]\naddress = "127.0.0.1"',
        f'[hosts.local]\naddress = "127.0.0.1"\n[hosts.edge]\naddress = "{address}"',
    )
    for section in ("gateway", "feed"):
        text = text.replace(f'[{section}]\nhost = "local"', f'[{section}]\nhost = "edge"')
    return text


@dataclass
class Supervised:
    folder: Path
    config_path: Path
    config: Config
    supervisors: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    own_group: bool = False  # each supervisor leads a process group, as in a terminal

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def log(self, host: str) -> Path:
        return self.folder / f"{host}.log"

    def env(self) -> dict[str, str]:
        return dict(os.environ, BOURSE_DATA_DIR=str(self.data), PYTHONUNBUFFERED="1")

    def start_host(self, host: str) -> None:
        log = self.log(host).open("ab")
        command = [sys.executable, "-m", "control.cli", "--config", str(self.config_path)]
        self.supervisors[host] = subprocess.Popen(
            [*command, "run", "--host", host],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=self.own_group,
        )

    def records(self, host: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log(host).read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue  # two processes' lines may interleave mid-line
        return found

    def host_of(self, process: str) -> str:
        host = self.config.processes()[process]
        assert host is not None, process
        return host

    def pids(self, process: str) -> list[int]:
        """Every pid the supervisor started ``process`` with, oldest first."""
        return [
            int(record["pid"])
            for record in self.records(self.host_of(process))
            if record.get("msg") == "started" and record.get("process") == process
        ]

    def kill(self, process: str) -> int:
        """SIGKILL the running ``process``; its pid."""
        pid = self.pids(process)[-1]
        os.kill(pid, signal.SIGKILL)
        return pid

    def api(self) -> httpx.Client:
        gateway = self.config.gateway
        return httpx.Client(base_url=f"http://{gateway.address}:{gateway.port}", timeout=10.0)

    def health(self) -> dict[str, Any] | None:
        """The gateway's ``/api/v1/health`` body, or None when it does not answer."""
        try:
            with self.api() as api:
                answer = api.get("/api/v1/health", timeout=2.0)
        except httpx.HTTPError:
            return None
        body: dict[str, Any] = answer.json()
        return body

    def status(self) -> tuple[int, str]:
        """``bourse status``: its exit status and what it printed."""
        done = subprocess.run(
            [sys.executable, "-m", "control.cli", "--config", str(self.config_path), "status"],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stdout

    def wait_healthy(self, timeout_s: float = DEADLINE_S) -> dict[str, Any]:
        health: dict[str, Any] | None = None

        def healthy() -> bool:
            nonlocal health
            health = self.health()
            return health is not None and health.get("ok") is True

        wait_until(healthy, timeout_s, lambda: f"the exchange is healthy: {health}")
        assert health is not None
        return health

    def close(self) -> None:
        for supervisor in self.supervisors.values():
            supervisor.send_signal(signal.SIGTERM)
        for supervisor in self.supervisors.values():
            try:
                supervisor.wait(30)
            except subprocess.TimeoutExpired:
                supervisor.kill()
                supervisor.wait()


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: Callable[[], str] | str
) -> None:
    """Poll a real condition until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what() if callable(what) else what)
        time.sleep(0.05)  # the poll's pace


@contextmanager
def supervised(
    folder: Path,
    rewrite: Callable[[str], str] = lambda text: text,
    own_group: bool = False,
    **options: Any,
) -> Iterator[Supervised]:
    """Keys made (as ``bourse keys init`` does) and every host's supervisor started."""
    path = write_config(folder, **options)
    path.write_text(rewrite(path.read_text()))
    running = Supervised(folder, path, load_config(path), own_group=own_group)
    running.data.mkdir(exist_ok=True)
    keys = running.data / running.config.raw.security.keys_dir
    ensure_pairs(keys, list(running.config.processes()))
    try:
        for host in running.config.raw.hosts:
            running.start_host(host)
        yield running
    finally:
        running.close()
