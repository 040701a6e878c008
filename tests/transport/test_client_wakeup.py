"""The asyncio client never sleeps through a reply: while its peer streams replies, the
client's periodic look at whether the peer is connected (which takes in waiting
messages) must not leave any of them unread."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from pathlib import Path

import zmq

from bourse.peers import admits
from harness.cluster import free_ports
from transport.client import PEER_CHECK_S, DealerClient, Unavailable
from transport.framing import BATCH, Envelope, pack_envelopes, pack_rid, unpack_message
from transport.security import BusSecurity


def chatty(endpoint: str) -> None:
    """A ROUTER that answers every request, and between requests keeps sending replies
    nobody asked for (as late replies to timed-out requests would be); in a process of
    its own, so the client's busy loop does not slow it."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind(endpoint)
    peer: bytes | None = None
    noise = pack_envelopes([Envelope(10**9, b"late")])
    while True:
        if router.poll(1, zmq.POLLIN):
            frames = router.recv_multipart()
            peer = frames[0]
            for envelope in unpack_message(frames[1:]) or ():
                router.send_multipart([peer, pack_rid(envelope.rid), envelope.body])
        elif peer is not None:
            router.send_multipart([peer, BATCH, noise])


async def keep_busy(until: float) -> None:
    while time.monotonic() < until:
        spin_until = time.monotonic() + 0.002
        while time.monotonic() < spin_until:
            pass
        await asyncio.sleep(0)


def test_every_reply_is_read_while_the_peer_streams_messages() -> None:
    (port,) = free_ports(1)
    endpoint = f"tcp://127.0.0.1:{port}"
    server = multiprocessing.get_context("spawn").Process(target=chatty, args=(endpoint,))
    server.start()

    async def run() -> int:
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        security = BusSecurity(Path("."), "gateway", admits, [], enabled=False)
        client = DealerClient(context, [(endpoint, "chatty")], "chatty", 2.0, security)
        answered = 0
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    await client.request(b"hello")
                    break
                except Unavailable:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.01)  # a retry pace until connected
            # Many peer checks go by while requests and unasked replies cross, in a loop
            # kept busy as a loaded gateway's is: messages come in during every pass.
            until = time.monotonic() + 12 * PEER_CHECK_S
            busy = asyncio.create_task(keep_busy(until))
            while time.monotonic() < until:
                assert await client.request(b"ping %d" % answered) == b"ping %d" % answered
                answered += 1
            await busy
        finally:
            await client.close()
            context.destroy(linger=0)
        return answered

    try:
        assert asyncio.run(run()) > 12
    finally:
        server.kill()
        server.join(10)
