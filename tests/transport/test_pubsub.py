"""The numbered publisher on real sockets: what it sends, and what it learns on an XPUB."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import zmq

from transport.pubsub import GapDetector, Publisher, parse_published

WAIT_MS = 5_000


@pytest.fixture
def context() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield context
    context.destroy(linger=0)


def bound(context: zmq.Context[zmq.Socket[bytes]], kind: int) -> tuple[zmq.Socket[bytes], str]:
    socket = context.socket(kind)
    socket.setsockopt(zmq.LINGER, 0)
    port = socket.bind_to_random_port("tcp://127.0.0.1")
    return socket, f"tcp://127.0.0.1:{port}"


def subscribed(
    context: zmq.Context[zmq.Socket[bytes]], endpoint: str, prefix: bytes
) -> zmq.Socket[bytes]:
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, prefix)
    return sub


def learn_next_change(xpub: zmq.Socket[bytes], publisher: Publisher) -> None:
    assert xpub.poll(WAIT_MS), "no subscription change reached the XPUB"
    publisher.read_subscriptions()


def test_an_xpub_publisher_wants_exactly_the_subscribed_topics(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    xpub, endpoint = bound(context, zmq.XPUB)
    publisher = Publisher(xpub)
    assert not publisher.wants(b"orders.1")

    sub = subscribed(context, endpoint, b"orders.1.")
    learn_next_change(xpub, publisher)
    assert publisher.wants(b"orders.1.")
    assert publisher.wants(b"orders.1.x")  # subscriptions are prefixes
    assert not publisher.wants(b"orders.2.")
    assert not publisher.wants(b"balances.1.")

    publisher.publish(b"orders.1.", b"first")
    assert sub.poll(WAIT_MS)
    assert parse_published(sub.recv_multipart()) == (b"orders.1.", 1, b"first")

    sub.setsockopt(zmq.UNSUBSCRIBE, b"orders.1.")
    learn_next_change(xpub, publisher)
    assert not publisher.wants(b"orders.1.")


def test_a_subscriber_that_goes_away_takes_its_topics_along(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    xpub, endpoint = bound(context, zmq.XPUB)
    publisher = Publisher(xpub)
    sub = subscribed(context, endpoint, b"")
    learn_next_change(xpub, publisher)
    assert publisher.wants(b"anything")

    sub.close(linger=0)
    learn_next_change(xpub, publisher)
    assert not publisher.wants(b"anything")


def test_a_plain_pub_publisher_wants_everything(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    pub, _ = bound(context, zmq.PUB)
    assert Publisher(pub).wants(b"book.BTC-USDT")


def test_the_gap_detector_reports_a_missing_number() -> None:
    gaps = GapDetector()
    assert gaps.accept(b"t", 5)  # the first message sets the start
    assert gaps.accept(b"t", 6)
    assert not gaps.accept(b"t", 8)
    assert gaps.accept(b"t", 9)
