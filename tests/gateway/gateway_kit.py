"""Real exchanges for the gateway tests: engines, shards and the gateway as processes.

Every cluster has its own config on free ports and data folder (tests/harness.py); the
gateway is started with ``bourse run gateway`` and is ready once ``/api/v1/health``
answers over HTTP.  ``Api`` wraps an httpx client with the few steps most tests repeat.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bourse.config import load_config
from harness.cluster import Cluster, write_config

ADMIN_KEY = "test-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class User:
    user_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.key)


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30.0)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.patch(path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, **kwargs)

    def new_user(self, **funds: str) -> User:
        created = self.post("/api/v1/users")
        assert created.status_code == 201, created.text
        user = User(created.json()["user_id"], created.json()["api_key"])
        for asset, amount in funds.items():
            answer = self.post(
                "/api/v1/deposits", json={"asset": asset, "amount": amount}, headers=user.headers
            )
            assert answer.status_code == 200, answer.text
        return user

    def balances(self, user: User) -> dict[str, tuple[str, str]]:
        answer = self.get("/api/v1/balances", headers=user.headers)
        assert answer.status_code == 200, answer.text
        return {b["asset"]: (b["free"], b["locked"]) for b in answer.json()}

    def place(self, user: User, **order: Any) -> httpx.Response:
        body = {"market": "BTC-USDT", "type": "limit", **order}
        return self.post("/api/v1/orders", json=body, headers=user.headers)

    def totals(self) -> dict[str, Any]:
        answer = self.get("/api/v1/admin/totals", headers=ADMIN)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def close(self) -> None:
        self.http.close()


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "") -> None:
    """Poll a real condition until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout_s}s: {what}")
        time.sleep(0.02)


def wait_for_gateway(cluster: Cluster, timeout_s: float = 30.0) -> None:
    url = f"http://127.0.0.1:{cluster.config.gateway.port}/api/v1/health"

    def answers() -> bool:
        process = cluster.processes["gateway"]
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited: {cluster.read_log('gateway')}")
        try:
            httpx.get(url, timeout=5.0)
        except httpx.TransportError:
            return False
        return True

    wait_until(answers, timeout_s, "the gateway answers /api/v1/health")


def reaches_every_actor(base_url: str) -> bool:
    """Whether the gateway's links to every engine and shard are up (its health says so).
    Asked from an address of its own, so that no test's rate limit pays for it."""
    with client(base_url, "127.0.0.254", timeout_s=5.0) as probe:
        health = probe.get("/api/v1/health").json()
    actors = [*health["engines"], *health["shards"]]
    return all(actor["up"] for actor in actors)


@contextmanager
def exchange(
    folder: Path,
    replace: dict[str, str] | None = None,
    append: str = "",
    feed: bool = False,
) -> Iterator[tuple[Cluster, Api]]:
    """A running exchange whose config is the harness's, with lines replaced or added."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = write_config(folder)
    text = config_path.read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    config_path.write_text(text + append)
    data_dir = folder / "data"
    data_dir.mkdir(exist_ok=True)
    cluster = Cluster(config_path, data_dir, load_config(config_path))
    api = Api(f"http://127.0.0.1:{cluster.config.gateway.port}")
    try:
        cluster.start_actors()
        if feed:
            cluster.start("feed", "feed")
        cluster.start("gateway", "gateway")
        wait_for_gateway(cluster)
        wait_until(
            lambda: reaches_every_actor(api.base_url), 30.0, "the gateway reaches its actors"
        )
        yield cluster, api
    finally:
        api.close()
        cluster.stop_all()


def client(base_url: str, source: str = "127.0.0.1", timeout_s: float = 30.0) -> httpx.Client:
    """An HTTP client whose connections come from ``source`` (any 127.x.y.z on Linux's
    loopback), so a test can be several client addresses at once."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=base_url, transport=transport, timeout=timeout_s)


def dial(port: int, source: str = "127.0.0.1", timeout_s: float = 5.0) -> socket.socket:
    """A raw TCP connection to 127.0.0.1:``port`` from ``source``."""
    sock = socket.socket()
    sock.settimeout(timeout_s)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def read_until_closed(sock: socket.socket, timeout_s: float) -> bytes:
    """What the server sends until it closes the connection (EOF or reset)."""
    sock.settimeout(timeout_s)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionError:
        pass
    return received


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` (EOF or reset), reading what it sent
    before; does not wait."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
        return True
    except BlockingIOError:
        return False
    except ConnectionError:
        return True
    finally:
        sock.settimeout(timeout)


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text at ``url``: each sample name's (labels, value) pairs."""
    text = httpx.get(url, timeout=5.0).text
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def refused(url: str) -> dict[str, float]:
    """The refusals a gateway worker or the feed counted, by reason."""
    samples = scrape(url)
    rows = samples.get("bourse_gateway_refused_total", []) + samples.get(
        "bourse_feed_refused_total", []
    )
    return {labels["reason"]: value for labels, value in rows}


def process_status(pid: int, field: str) -> int:
    """A number of /proc/<pid>/status, such as VmRSS (kB)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name == field:
                return int(value.split()[0])
    raise KeyError(field)


def rss_mb(pid: int) -> float:
    return process_status(pid, "VmRSS") / 1024


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


USER_SHIFT = 40


def shard_of(user_id: str) -> int:
    return int(user_id) >> USER_SHIFT


def error(response: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    """The response is docs/api.md's error body with this status, code and (absent) field."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    assert set(body) <= {"code", "message", "field"}, body
    if field is None:
        assert "field" not in body, body
    else:
        assert body.get("field") == field, body
