"""etcd down, frozen or not etcd at all: every call fails within its timeout, with an error
the caller can handle, and a leader stops leading on its own."""

from __future__ import annotations

import dataclasses
import http.server
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from coordkit import MakeCoordinator
from gateway_kit import wait_until

from bourse.coordination import CoordinatorSettings
from harness.cluster import free_ports
from harness.etcd import Etcd
from transport.coordinator import Coordinator, CoordinatorError, CoordinatorUnavailable

GROUP = "engine-BTC-USDT"
# A call may spend the timeout connecting and again waiting for the answer; the rest is
# this Python on a busy machine.
SLACK_S = 0.5


def every_call(one: Coordinator) -> dict[str, Callable[[], object]]:
    return {
        "campaign": lambda: one.campaign(GROUP, "primary", {}, primary=True),
        "leader": lambda: one.leader(GROUP),
        "leaders": one.leaders,
        "isr_members": lambda: one.isr_members(GROUP),
        "mark_diverged": lambda: one.mark_diverged(GROUP, "standby"),
        "clear_diverged": lambda: one.clear_diverged(GROUP, "standby"),
        "diverged": lambda: one.diverged(GROUP),
        "watch_leaders": lambda: one.watch_leaders(lambda change: None),
    }


def assert_each_fails_in_time(one: Coordinator, settings: CoordinatorSettings) -> None:
    bound = 2 * settings.request_timeout_ms / 1000 + SLACK_S
    for name, call in every_call(one).items():
        started = time.monotonic()
        with pytest.raises(CoordinatorUnavailable):
            call()
        took = time.monotonic() - started
        assert took < bound, f"{name} took {took:.3f}s"


def test_with_etcd_stopped_every_call_fails_in_time(
    server: Etcd, settings: CoordinatorSettings, coordinator: MakeCoordinator
) -> None:
    server.stop()
    assert_each_fails_in_time(coordinator(), settings)


def test_with_etcd_frozen_every_call_fails_in_time(
    server: Etcd, settings: CoordinatorSettings, coordinator: MakeCoordinator
) -> None:
    """Frozen, etcd's port still takes connections: the calls time out waiting."""
    one = coordinator()
    assert one.leader(GROUP) is None  # a connection to reuse
    server.pause()
    try:
        assert_each_fails_in_time(one, settings)
    finally:
        server.resume()
    assert one.leader(GROUP) is None  # and it works again


def test_a_leader_whose_etcd_freezes_stops_leading_on_its_own(
    server: Etcd, settings: CoordinatorSettings, coordinator: MakeCoordinator
) -> None:
    lost: list[Mapping[str, int]] = []
    leader = coordinator(on_lost=lost.append)
    epoch = leader.campaign(GROUP, "primary", {}, primary=True)
    assert epoch is not None
    server.pause()
    try:
        paused_at = time.monotonic()
        wait_until(lambda: leader.leading(GROUP) is None, 5.0, "the deadline passes")
        assert time.monotonic() - paused_at <= settings.lease_ttl_ms / 1000
        wait_until(lambda: lost == [{GROUP: epoch}], 5.0, "the loss is reported")
    finally:
        server.resume()


def test_an_unreachable_endpoint_is_skipped_for_the_next(
    settings: CoordinatorSettings, coordinator: MakeCoordinator
) -> None:
    (nobody,) = free_ports(1)
    endpoints = (f"http://127.0.0.1:{nobody}", *settings.endpoints)
    one = coordinator(dataclasses.replace(settings, endpoints=endpoints))
    assert one.campaign(GROUP, "primary", {}, primary=True) is not None
    assert one.isr_members(GROUP) == {"primary"}
    seen: list[object] = []
    watch = one.watch_leaders(seen.append)
    try:
        assert set(watch.initial) == {GROUP}
    finally:
        watch.close()


class NotEtcd(http.server.BaseHTTPRequestHandler):
    """Answers every POST with whatever the test put in ``answers`` for its path."""

    answers: dict[str, tuple[int, bytes]] = {}

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = self.answers.get(self.path, (404, b"no"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def not_etcd() -> Iterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    answers: dict[str, tuple[int, bytes]] = {}
    handler = type("Handler", (NotEtcd,), {"answers": answers})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()


GRANTED = b'{"ID":"7","TTL":"1"}'


@pytest.mark.parametrize(
    ("path", "answer"),
    [
        ("/v3/kv/range", (200, b"<html>")),
        ("/v3/kv/range", (200, b'{"kvs":[{"key":"!!"}]}')),
        ("/v3/kv/range", (200, b'{"kvs":"many"}')),
        ("/v3/kv/range", (200, b'{"header":{"revision":"x"}}')),
        ("/v3/kv/range", (500, b"boom")),
        ("/v3/kv/txn", (200, b'{"succeeded":"maybe"}')),
        ("/v3/kv/txn", (400, b'{"error":"bad","message":"bad","code":3}')),
        ("/v3/lease/grant", (200, b'{"ID":"0"}')),
        ("/v3/lease/grant", (200, b'{"TTL":"-5","ID":"1"}')),
    ],
)
def test_answers_that_are_not_etcds_are_errors_not_crashes(
    not_etcd: tuple[str, dict[str, tuple[int, bytes]]],
    path: str,
    answer: tuple[int, bytes],
) -> None:
    endpoint, answers = not_etcd
    answers["/v3/lease/grant"] = (200, GRANTED)
    answers["/v3/lease/keepalive"] = (200, b'{"result":{"ID":"7","TTL":"1"}}')
    answers[path] = answer
    one = Coordinator(CoordinatorSettings((endpoint,), "/t", 1000, 250, 100))
    try:
        with pytest.raises(CoordinatorError):
            if path == "/v3/kv/range":
                one.leaders()
            else:
                one.campaign(GROUP, "primary", {}, primary=True)
    finally:
        one.close()


def test_a_leader_key_of_another_shape_reads_as_no_leader(
    not_etcd: tuple[str, dict[str, tuple[int, bytes]]],
) -> None:
    endpoint, answers = not_etcd
    key = "L3QvbGVhZGVyL2dyb3Vw"  # /t/leader/group
    answers["/v3/kv/range"] = (
        200,
        b'{"header":{"revision":"9"},"kvs":[{"key":"' + key.encode() + b'",'
        b'"create_revision":"3","value":"bm90IGpzb24="}]}',
    )
    one = Coordinator(CoordinatorSettings((endpoint,), "/t", 1000, 250, 100))
    try:
        assert one.leaders() == ({}, 9)
        assert one.leader("group") is None
    finally:
        one.close()
