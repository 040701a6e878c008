"""A turn reads every ready socket: a flood of requests on the ROUTER never keeps the
engines' reports on a DEALER waiting (real ZeroMQ sockets, in-process transport)."""

from __future__ import annotations

import time
from pathlib import Path

import zmq

from bourse.peers import admits
from transport.framing import pack_rid
from transport.runtime import MAX_BATCH, Actor, Inbound, Outbox, Runtime
from transport.security import BusSecurity


class Idle(Actor):
    def setup(self, runtime: Runtime) -> None: ...

    def on_batch(self, batch: list[Inbound], now: int, out: Outbox) -> None: ...


def test_a_flooded_router_does_not_starve_a_dealer() -> None:
    runtime = Runtime(Idle(), BusSecurity(Path("."), "accounts-0", admits, [], enabled=False))
    context = runtime.context
    try:
        engine = context.socket(zmq.ROUTER)
        engine.bind("inproc://engine")
        runtime.bind_router("router", "accounts-router", "inproc://shard")
        servers = [("inproc://engine", "engine-BTC-USDT")]
        runtime.connect_dealer("engine", servers, "engine-BTC-USDT", b"accounts-0")
        client = context.socket(zmq.DEALER)
        client.connect("inproc://shard")
        for rid in range(1, 2 * MAX_BATCH + 1):
            client.send_multipart([pack_rid(rid), b"request"])
        # The engine learns the shard's identity when the DEALER connects; until then a
        # send to it is refused (ROUTER_MANDATORY), so retry within a deadline.
        engine.setsockopt(zmq.ROUTER_MANDATORY, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                engine.send_multipart([b"accounts-0", pack_rid(0), b"report"])
                break
            except zmq.ZMQError:
                assert time.monotonic() < deadline, "the DEALER never connected"
                engine.poll(10)

        ready: dict[zmq.Socket[bytes] | int, int] = {}
        while len(ready) < 2:
            polled = dict(runtime._poller.poll(5000))
            assert polled, "both sockets should have messages waiting"
            ready.update(polled)
        batch = runtime._read_batch(ready)  # type: ignore[arg-type]

        sockets = [message.socket for message in batch]
        assert sockets.count("engine") == 1, "the report is read in the same turn"
        assert sockets.count("router") == MAX_BATCH, "the flood is read a budget at a time"
    finally:
        context.destroy(linger=0)
