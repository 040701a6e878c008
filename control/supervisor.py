"""``bourse run --host NAME``: start and supervise every process a config puts on a host.

Invariants: each process is its own OS process running ``bourse run <process>``; one
that exits is started again after a back-off that doubles up to ``MAX_BACKOFF_S`` and
resets once it has stayed up ``STABLE_S``; SIGTERM stops every child (SIGTERM, then
SIGKILL after ``STOP_S``) and then the supervisor.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from urllib.parse import urlsplit

from bourse.config import Config, data_dir
from control import banner
from control.etcd import etcd_command

log = logging.getLogger("supervisor")

MAX_BACKOFF_S = 10.0
STABLE_S = 30.0
STOP_S = 5.0


@dataclass
class Child:
    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 0.25
    restart_at: float = 0.0


def children_of(config: Config, host: str, config_path: str) -> list[Child]:
    base = [sys.executable, "-m", "control.cli", "--config", config_path, "run"]
    children = []
    section = config.raw.coordinator
    if section is not None and section.host == host and config.coordinator is not None:
        client = config.coordinator.endpoints[0]
        parts = urlsplit(client)
        peer = f"http://{parts.hostname}:{(parts.port or 2379) + 1}"
        folder = data_dir() / "etcd"
        children.append(Child("etcd", etcd_command(folder, client, peer)))
    for market, engine in config.engines.items():
        for index, instance in enumerate(engine.instances):
            if instance.host == host:
                command = [*base, "engine", "--market", market, *(["--standby"] * index)]
                children.append(Child(instance.name, command))
    for shard in config.shards:
        for index, instance in enumerate(shard.instances):
            if instance.host == host:
                command = [*base, "accounts", "--shard", str(shard.shard), *(["--standby"] * index)]
                children.append(Child(instance.name, command))
    if config.gateway.host == host:
        children.append(Child("gateway", [*base, "gateway"]))
    several = len(config.feed_relays) > 1
    for number, relay in enumerate(config.feed_relays, 1):
        if relay.host == host:
            children.append(
                Child(relay.name, [*base, "feed", *(["--relay", str(number)] * several)])
            )
    return children


def run_host(config: Config, host: str, config_path: str, announce: bool = False) -> int:
    from bourse.logs import setup_logging

    setup_logging(f"supervisor-{host}")
    if host not in config.raw.hosts:
        log.error("unknown host", extra={"fields": {"host": host}})
        return 2
    children = children_of(config, host, config_path)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "supervising", extra={"fields": {"host": host, "processes": [c.name for c in children]}}
    )
    if announce:
        threading.Thread(target=banner.announce, args=(config,), daemon=True).start()
    while not stopping:
        now = time.monotonic()
        for child in children:
            _tend(child, now)
        time.sleep(0.1)  # the supervisor's own tick: it waits on children, not on messages
    for child in children:
        if child.process is not None and child.process.poll() is None:
            child.process.terminate()
    deadline = time.monotonic() + STOP_S
    for child in children:
        if child.process is not None:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
    return 0


def _tend(child: Child, now: float) -> None:
    process = child.process
    if process is not None and process.poll() is None:
        if now - child.started > STABLE_S:
            child.backoff = 0.25
        return
    if process is not None:
        log.warning(
            "process exited; restarting after back-off",
            extra={
                "fields": {
                    "process": child.name,
                    "code": process.returncode,
                    "backoff_s": child.backoff,
                }
            },
        )
        child.process = None
        child.restart_at = now + child.backoff
        child.backoff = min(child.backoff * 2, MAX_BACKOFF_S)
        return
    if now >= child.restart_at:
        child.process = subprocess.Popen(child.args)
        child.started = now
        log.info("started", extra={"fields": {"process": child.name, "pid": child.process.pid}})
