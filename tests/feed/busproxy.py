"""A lossy link on the market-data bus: a proxy between the engines' PUB sockets and the
feed that forwards everything but the messages a test chooses to lose.

The feed is started on its own config, in which each engine's ``pub`` endpoint is the
proxy's; the engines keep the cluster's config. Subscriptions pass upstream (XPUB to
XSUB), so the engines see the feed's own topics. One thread moves the messages; it stops
when told through an inproc pipe, not on a timer.

Invariants:
- Messages are forwarded whole and in order, per engine; the ones ``lose`` picks are
  counted in ``lost`` and never sent.
- Every socket of the proxy comes from :func:`bus_socket`.  The bus is CURVE-encrypted:
  the proxy dials each engine as the feed (with the feed's key, which the harness holds),
  and stands in for the engine towards the feed (with the engine's key pair, so the feed
  finds the server it expects).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import zmq

from bourse.config import Config, load_config
from bourse.peers import FEED
from harness.cluster import Cluster, free_ports
from transport.keys import load_pair

Frames = list[bytes]
Lose = Callable[[Frames], bool]
Secure = Callable[[zmq.Socket[bytes]], None]


def stand_in_for(process: str, c: Cluster) -> Secure:
    """Make a socket the CURVE server ``process`` is (its own key pair)."""
    pair = load_pair(c.keys_dir, process)

    def serve(sock: zmq.Socket[bytes]) -> None:
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, pair.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, pair.secret)

    return serve


def dial_as_feed(c: Cluster, endpoint: str, server: str) -> Secure:
    return lambda sock: c.security(FEED).connect(sock, endpoint, server)


def bus_socket(context: zmq.Context[Any], kind: int) -> zmq.Socket[bytes]:
    """A socket of the proxy, set up like the bus's own: no linger, deep queues."""
    sock: zmq.Socket[bytes] = context.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 1_000_000)
    sock.setsockopt(zmq.RCVHWM, 1_000_000)
    return sock


def lose_book_frames(numbers: set[int]) -> Lose:
    """Loses the n-th ``book.<market>`` message of each market, for each n in ``numbers``."""
    counts: dict[bytes, int] = {}

    def lose(frames: Frames) -> bool:
        topic = frames[0]
        if not topic.startswith(b"book."):
            return False
        counts[topic] = counts.get(topic, 0) + 1
        return counts[topic] in numbers

    return lose


class BusProxy:
    def __init__(self, context: zmq.Context[Any], lose: Lose) -> None:
        self._context = context
        self._lose = lose
        self._pairs: list[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]] = []
        self._stop_address = f"inproc://bus-proxy-{id(self)}"
        self._stop = bus_socket(context, zmq.PAIR)
        self._stop.bind(self._stop_address)
        self._thread = threading.Thread(target=self._run, name="bus-proxy", daemon=True)
        self.lost = 0

    def link(self, dial: Secure, binds: tuple[str, ...], serve: Secure) -> None:
        """Relay the publisher that ``dial`` connects to, to subscribers of ``binds``
        (``serve`` makes the listening socket the server they expect)."""
        sub = bus_socket(self._context, zmq.XSUB)
        dial(sub)
        pub = bus_socket(self._context, zmq.XPUB)
        serve(pub)
        for address in binds:
            pub.bind(address)
        self._pairs.append((sub, pub))

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._stop.send(b"stop")
            self._thread.join()
        for sub, pub in self._pairs:
            sub.close()
            pub.close()
        self._stop.close()

    def _run(self) -> None:
        stop = bus_socket(self._context, zmq.PAIR)
        stop.connect(self._stop_address)
        poller = zmq.Poller()
        poller.register(stop, zmq.POLLIN)
        downstream: dict[zmq.Socket[bytes], zmq.Socket[bytes]] = {}
        upstream: dict[zmq.Socket[bytes], zmq.Socket[bytes]] = {}
        for sub, pub in self._pairs:
            downstream[sub] = pub
            upstream[pub] = sub
            poller.register(sub, zmq.POLLIN)
            poller.register(pub, zmq.POLLIN)
        try:
            while True:
                for sock, _ in poller.poll():
                    if sock is stop:
                        return
                    frames = sock.recv_multipart()
                    if sock in upstream:  # a subscription on its way to the engine
                        upstream[sock].send_multipart(frames)
                    elif self._lose(frames):
                        self.lost += 1
                    else:
                        downstream[sock].send_multipart(frames)
        finally:
            stop.close()


@contextmanager
def lossy_bus(c: Cluster, lose: Lose) -> Iterator[tuple[BusProxy, Cluster]]:
    """A proxy in front of every engine's PUB, and a view of ``c`` whose config sends the
    feed through it (start the feed with that view; the cluster still stops it)."""
    text = c.config_path.read_text()
    engines = list(c.config.engines.values())
    for engine, port in zip(engines, free_ports(len(engines)), strict=True):
        text = text.replace(f"pub_port = {engine.pub.port}\n", f"pub_port = {port}\n", 1)
    path = c.config_path.with_name("feed-via-proxy.toml")
    path.write_text(text)
    config: Config = load_config(path)
    proxy = BusProxy(c.context, lose)
    try:
        for name, engine in c.config.engines.items():
            proxy.link(
                dial_as_feed(c, engine.pub.connect, engine.name),
                config.engines[name].pub.binds,
                stand_in_for(engine.name, c),
            )
        proxy.start()
        yield proxy, dataclasses.replace(c, config_path=path, config=config)
    finally:
        proxy.close()
