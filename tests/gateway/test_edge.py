"""Hostile HTTP clients against a real gateway: each is refused, costs the gateway a
bounded amount of memory and descriptors, and a normal client keeps being served.

Clients come from several loopback addresses (127.0.0.2, 127.0.0.3, ...): the gateway
sees each as a client address of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from gateway_kit import (
    Api,
    client,
    closed_by_peer,
    dial,
    exchange,
    open_fds,
    read_until_closed,
    refused,
    rss_mb,
    scrape,
    wait_until,
)

from harness.cluster import Cluster

TIMEOUT_MS = 1500
SERVED_WITHIN_S = 2.0  # a normal client's bound while an attack runs
RSS_GROWTH_MB = 25.0  # what an attack may add to the gateway's memory, at most


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    """Short header, body and keep-alive timeouts."""
    replace = {
        '[gateway]\nhost = "local"': (
            f"[gateway]\nheader_timeout_ms = {TIMEOUT_MS}\nbody_timeout_ms = {TIMEOUT_MS}\n"
            f'keepalive_timeout_ms = {TIMEOUT_MS}\nhost = "local"'
        ),
    }
    with exchange(tmp_path_factory.mktemp("edge"), replace=replace) as pair:
        yield pair


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Api]]:
    """At most 100 connections per address and 600 in all; long timeouts."""
    replace = {
        "max_connections_per_address = 4096": (
            "max_connections_per_address = 100\nmax_connections = 600\n"
            "header_timeout_ms = 60000\nkeepalive_timeout_ms = 60000"
        ),
    }
    with exchange(tmp_path_factory.mktemp("capped"), replace=replace) as pair:
        yield pair


def gateway_pid(cluster: Cluster) -> int:
    return cluster.processes["gateway"].pid


def served_meanwhile(base_url: str, source: str, attacking: Callable[[], bool]) -> list[float]:
    """A normal client's GET /api/v1/markets, again and again while ``attacking()``:
    each must be answered 200 within SERVED_WITHIN_S.  Returns the latencies."""
    latencies: list[float] = []
    with client(base_url, source, timeout_s=SERVED_WITHIN_S) as normal:
        while attacking() or len(latencies) < 3:
            started = time.monotonic()
            answer = normal.get("/api/v1/markets")
            latencies.append(time.monotonic() - started)
            assert answer.status_code == 200, answer.text
    assert max(latencies) < SERVED_WITHIN_S, latencies
    return latencies


def test_an_oversized_head_is_answered_431_at_the_limit(edge: tuple[Cluster, Api]) -> None:
    cluster, api = edge
    port, pid = cluster.config.gateway.port, gateway_pid(cluster)
    before = rss_mb(pid)
    answers: list[bytes] = []

    def send_a_4_mib_header() -> None:
        sock = dial(port, "127.0.0.2", timeout_s=10.0)
        try:
            sock.sendall(b"GET /api/v1/markets HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(256):
                sock.sendall(b"a" * 16384)
        except OSError:
            pass  # the gateway stopped reading: it has answered
        answers.append(read_until_closed(sock, 10.0))
        sock.close()

    attackers = [threading.Thread(target=send_a_4_mib_header) for _ in range(4)]
    for attacker in attackers:
        attacker.start()
    served_meanwhile(api.base_url, "127.0.0.3", lambda: any(a.is_alive() for a in attackers))
    for attacker in attackers:
        attacker.join()
    assert len(answers) == 4
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert b'"code":"HEADERS_TOO_LARGE"' in answer
    assert rss_mb(pid) - before < RSS_GROWTH_MB

    # Too many headers, however small.
    sock = dial(port, "127.0.0.2")
    sock.sendall(b"GET /api/v1/markets HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n")
    assert read_until_closed(sock, 5.0).startswith(b"HTTP/1.1 431 ")
    sock.close()
    # A head just under the limit is served.
    ok = api.get("/api/v1/markets", headers={"X-Pad": "a" * 15_000})
    assert ok.status_code == 200
    counted = refused(f"{api.base_url}/metrics")
    assert counted["max_header_bytes"] >= 4 and counted["max_headers"] >= 1


def test_slow_and_idle_connections_are_closed_by_the_header_timeout(
    edge: tuple[Cluster, Api],
) -> None:
    cluster, api = edge
    port, pid = cluster.config.gateway.port, gateway_pid(cluster)
    before = rss_mb(pid)
    opened = time.monotonic()
    # 200 clients that trickle a head one header at a time, 50 that send nothing.
    slow = [dial(port, "127.0.0.2") for _ in range(200)]
    idle = [dial(port, "127.0.0.2") for _ in range(50)]
    for sock in slow:
        sock.sendall(b"POST /api/v1/deposits HTTP/1.1\r\nHost: x\r\n")
    answers = {sock: b"" for sock in slow}
    open_ones = set(slow) | set(idle)
    deadline = opened + TIMEOUT_MS / 1000 + 10.0

    def trickle_until_closed() -> None:
        while open_ones and time.monotonic() < deadline:
            for sock in list(open_ones):
                try:
                    if sock in answers:
                        sock.sendall(b"X-Slow: 1\r\n")
                    sock.setblocking(False)
                    while chunk := sock.recv(65536):
                        answers[sock] = answers.get(sock, b"") + chunk
                    open_ones.discard(sock)  # EOF
                except BlockingIOError:
                    pass
                except OSError:
                    open_ones.discard(sock)
            time.sleep(0.2)  # the attacker's own pace, one header every 200 ms

    attacker = threading.Thread(target=trickle_until_closed)
    attacker.start()
    served_meanwhile(api.base_url, "127.0.0.3", attacker.is_alive)
    attacker.join()
    assert not open_ones, f"{len(open_ones)} connections still open"
    for answer in answers.values():
        if answer:  # a reset may beat the answer; what arrives is the 408
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert sum(1 for answer in answers.values() if answer) >= len(slow) // 2
    for sock in slow + idle:
        sock.close()
    assert rss_mb(pid) - before < RSS_GROWTH_MB
    assert refused(f"{api.base_url}/metrics")["header_timeout"] >= 250


def test_a_body_that_never_ends_is_cut_off(edge: tuple[Cluster, Api]) -> None:
    cluster, api = edge
    user = api.new_user()
    port = cluster.config.gateway.port
    for framing in (b"Transfer-Encoding: chunked", b"Content-Length: 1000"):
        sock = dial(port, "127.0.0.2")
        sock.sendall(
            b"POST /api/v1/deposits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {user.key}\r\n".encode()
            + framing
            + b"\r\n\r\n"
        )
        sock.setblocking(False)
        started, answer = time.monotonic(), b""
        while time.monotonic() - started < TIMEOUT_MS / 1000 + 10.0:
            try:
                sock.sendall(b"1\r\n{\r\n" if b"chunked" in framing else b" ")
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            except BlockingIOError:
                pass
            except OSError:
                break
            time.sleep(0.2)  # the attacker's own pace: a byte every 200 ms
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert time.monotonic() - started < TIMEOUT_MS / 1000 + 5.0
        sock.close()
    assert refused(f"{api.base_url}/metrics")["body_timeout"] >= 2
    # The route that waited for those bodies counts no server error.
    errors = scrape(f"{api.base_url}/metrics").get("bourse_gateway_requests_error_total", [])
    assert not [labels for labels, _ in errors if labels["path"] == "/api/v1/deposits"], errors


def test_an_idle_keep_alive_connection_is_closed(edge: tuple[Cluster, Api]) -> None:
    cluster, _ = edge
    sock = dial(cluster.config.gateway.port, "127.0.0.2")
    sock.sendall(b"GET /api/v1/markets HTTP/1.1\r\nHost: x\r\n\r\n")
    answered = time.monotonic()
    assert read_until_closed(sock, TIMEOUT_MS / 1000 + 5.0).startswith(b"HTTP/1.1 200 ")
    assert time.monotonic() - answered < TIMEOUT_MS / 1000 + 3.0
    sock.close()


def test_connections_are_capped_per_address_and_in_all(capped: tuple[Cluster, Api]) -> None:
    cluster, api = capped
    port, pid = cluster.config.gateway.port, gateway_pid(cluster)
    fds_before, rss_before = open_fds(pid), rss_mb(pid)

    # One address opens 3,000 connections and sends nothing: 100 are kept, the rest
    # closed at once.
    flood = [dial(port, "127.0.0.2") for _ in range(3000)]
    wait_until(
        lambda: sum(closed_by_peer(sock) for sock in flood) >= 2900,
        10.0,
        "the connections past the address's 100 are closed",
    )
    assert open_fds(pid) <= fds_before + 100 + 10
    with client(api.base_url, "127.0.0.3", timeout_s=SERVED_WITHIN_S) as normal:
        assert normal.get("/api/v1/markets").status_code == 200

    # Five more addresses fill the worker's 600: a sixth is turned away until they leave.
    more = [dial(port, f"127.0.0.{10 + i}") for i in range(5) for _ in range(100)]
    late = dial(port, "127.0.0.20")
    wait_until(lambda: closed_by_peer(late), 10.0, "a connection past 600 is closed")
    assert open_fds(pid) <= fds_before + 600 + 10
    for sock in flood + more:
        sock.close()
    late.close()

    def served() -> bool:
        try:
            with client(api.base_url, "127.0.0.20", timeout_s=SERVED_WITHIN_S) as normal:
                return normal.get("/api/v1/markets").status_code == 200
        except httpx.TransportError:
            return False

    wait_until(served, 10.0, "a new address is served once the others left")
    counted = refused(f"{api.base_url}/metrics")
    assert counted["max_connections_per_address"] >= 2900
    assert counted["max_connections"] >= 1
    assert rss_mb(pid) - rss_before < RSS_GROWTH_MB
