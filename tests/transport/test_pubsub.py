"""The numbered publisher on real sockets: what it sends, what it learns on its XPUB, and
the subscriptions it refuses."""

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


def publisher_on(xpub: zmq.Socket[bytes], learn: bool = True) -> Publisher:
    return Publisher(xpub, max_topic=16, max_subscriptions=3, learn_subscriptions=learn)


def learn_next_change(xpub: zmq.Socket[bytes], publisher: Publisher) -> None:
    assert xpub.poll(WAIT_MS), "no subscription change reached the XPUB"
    publisher.read_subscriptions()


def test_an_xpub_publisher_wants_exactly_the_subscribed_topics(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    xpub, endpoint = bound(context, zmq.XPUB)
    publisher = publisher_on(xpub)
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
    publisher = publisher_on(xpub)
    sub = subscribed(context, endpoint, b"")
    learn_next_change(xpub, publisher)
    assert publisher.wants(b"anything")

    sub.close(linger=0)
    learn_next_change(xpub, publisher)
    assert not publisher.wants(b"anything")


def test_a_publisher_that_does_not_learn_wants_everything(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    xpub, _ = bound(context, zmq.XPUB)
    assert publisher_on(xpub, learn=False).wants(b"book.BTC-USDT")


def test_one_subscriber_leaving_does_not_hide_a_topic_another_holds(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    xpub, endpoint = bound(context, zmq.XPUB)
    publisher = publisher_on(xpub)
    first = subscribed(context, endpoint, b"trade.")
    learn_next_change(xpub, publisher)
    second = subscribed(context, endpoint, b"trade.")
    learn_next_change(xpub, publisher)
    first.close(linger=0)
    learn_next_change(xpub, publisher)
    assert publisher.wants(b"trade.BTC-USDT")
    publisher.publish(b"trade.BTC-USDT", b"still here")
    assert second.poll(WAIT_MS)
    assert parse_published(second.recv_multipart())[2] == b"still here"


def test_a_subscription_longer_than_any_topic_is_refused_and_gets_nothing(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    xpub, endpoint = bound(context, zmq.XPUB)
    publisher = publisher_on(xpub)
    greedy = subscribed(context, endpoint, b"t" * 17)  # the publisher's topics are <= 16
    learn_next_change(xpub, publisher)
    assert publisher.refused == 1 and not publisher.has_subscribers()
    honest = subscribed(context, endpoint, b"t")
    learn_next_change(xpub, publisher)
    publisher.publish(b"t" * 17, b"for the honest one")
    assert honest.poll(WAIT_MS)
    assert not greedy.poll(100), "a refused subscription is never applied"


def test_subscriptions_past_the_cap_are_refused(
    context: zmq.Context[zmq.Socket[bytes]],
) -> None:
    xpub, endpoint = bound(context, zmq.XPUB)
    publisher = publisher_on(xpub)
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(endpoint)
    for n in range(5):
        sub.setsockopt(zmq.SUBSCRIBE, b"topic.%d" % n)
        learn_next_change(xpub, publisher)
    assert publisher.refused == 2  # three held at most
    assert publisher.wants(b"topic.2") and not publisher.wants(b"topic.3")


def test_the_gap_detector_reports_a_missing_number() -> None:
    gaps = GapDetector()
    assert gaps.accept(b"t", 5)  # the first message sets the start
    assert gaps.accept(b"t", 6)
    assert not gaps.accept(b"t", 8)
    assert gaps.accept(b"t", 9)
