"""Several requests in one message, against the real actors: each is answered as if it
had come alone, a malformed message harms nothing, and the asyncio client sends requests
made together as one message."""

from __future__ import annotations

import asyncio
import hashlib
import time
import urllib.request
from pathlib import Path

import msgspec
import zmq

from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    BalancesReply,
    CreateUser,
    Deposit,
    GetBalances,
    GetStatus,
    ShardStatus,
    UserCreated,
)
from bourse.peers import GATEWAY, admits
from harness.cluster import Cluster, free_ports
from transport.client import DealerClient, Unavailable
from transport.framing import BATCH, Envelope, pack_envelopes, pack_rid, unpack_envelopes
from transport.security import BusSecurity

SECRET = hashlib.sha256(b"envelopes").digest()
decode = msgspec.msgpack.Decoder(AccountsReply).decode
encode = msgspec.msgpack.Encoder().encode


def replies_by_rid(frames: list[bytes]) -> dict[int, AccountsReply]:
    assert frames[0] == BATCH, "several replies for one peer in one turn travel together"
    envelopes = unpack_envelopes(frames[1])
    assert envelopes is not None
    return {e.rid: decode(e.body) for e in envelopes}


def test_each_envelope_is_answered_as_if_it_came_alone(actors: Cluster) -> None:
    shard = actors.shard_client(0)
    created = shard.call(CreateUser(SECRET), AccountsReply)
    assert isinstance(created, UserCreated)
    auth = Auth(created.user_id, SECRET)
    requests = [
        Envelope(7, encode(Deposit(auth, "USDT", 5_000_000)), b"trace-7"),
        Envelope(8, encode(Deposit(auth, "USDT", 2_000_000))),
        Envelope(9, b"\xc1 not msgpack"),
        Envelope(10, encode(GetBalances(auth))),
    ]
    replies = replies_by_rid(shard.raw([BATCH, pack_envelopes(requests)]))
    assert sorted(replies) == [7, 8, 9, 10]
    assert getattr(replies[9], "code", None) == "BAD_REQUEST"
    balances = replies[10]
    assert isinstance(balances, BalancesReply)
    assert {b.asset: b.free for b in balances.balances}["USDT"] == 7_000_000


def test_a_malformed_message_of_envelopes_is_dropped_and_the_shard_keeps_serving(
    actors: Cluster,
) -> None:
    shard = actors.shard_client(0)
    socket = shard._socket
    socket.send_multipart([BATCH, b"\xc1 not msgpack"])
    socket.send_multipart([BATCH, msgspec.msgpack.encode([[1, b"x", b"bad trace"]])])
    socket.send_multipart([BATCH, pack_envelopes([Envelope(5, b"x")]), b"a third frame"])
    socket.send_multipart([pack_rid(6), encode(GetStatus())])
    assert socket.poll(5000), "the shard answers the request after the malformed ones"
    rid, body = socket.recv_multipart()
    assert rid == pack_rid(6) and isinstance(decode(body), ShardStatus)
    assert not socket.poll(200, zmq.POLLIN), "the malformed messages got no answer"
    assert "dropped a malformed message" in actors.read_log("accounts-0")


def test_requests_made_together_leave_together_and_are_all_answered(actors: Cluster) -> None:
    shard = actors.config.shards[0]
    security = actors.security(GATEWAY)

    async def run() -> list[AccountsReply]:
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        client = DealerClient(context, shard.routers, shard.name, 5.0, security)
        try:
            await connected(client)
            bodies = await asyncio.gather(
                *(client.request(encode(CreateUser(SECRET)), trace=b"t%d" % i) for i in range(300))
            )
            return [decode(body) for body in bodies]
        finally:
            await client.close()
            context.destroy(linger=0)

    assert turns_with_more_than_256_messages(actors) == 0
    replies = asyncio.run(run())
    ids = [reply.user_id for reply in replies if isinstance(reply, UserCreated)]
    assert len(ids) == 300 and len(set(ids)) == 300
    assert turns_with_more_than_256_messages(actors) >= 1, "the burst came as one message"


async def connected(client: DealerClient, timeout_s: float = 10.0) -> None:
    """Readiness: a DEALER refuses to send (Unavailable) until it has connected."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await client.request(encode(GetStatus()))
            return
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)


def turns_with_more_than_256_messages(actors: Cluster) -> float:
    """From the shard's own metrics: every turn counts, the bucket counts those <= 256."""
    endpoint = actors.config.shards[0].metrics
    assert endpoint is not None
    url = f"http://127.0.0.1:{endpoint.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        lines = response.read().decode().splitlines()
    values = dict(line.rsplit(" ", 1) for line in lines if line.startswith("bourse_batch_size"))
    actor = '{actor="accounts-0"'
    total = float(values[f"bourse_batch_size_count{actor}}}"])
    small = float(values[f'bourse_batch_size_bucket{actor},le="256.0"}}'])
    return total - small


def test_a_request_whose_client_closes_before_it_leaves_fails_cleanly() -> None:
    errors: list[dict[str, object]] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: errors.append(context))
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        (port,) = free_ports(1)
        security = BusSecurity(Path("."), "gateway", admits, [], enabled=False)
        nobody = [(f"tcp://127.0.0.1:{port}", "nobody")]
        client = DealerClient(context, nobody, "nobody", 5.0, security)
        try:
            pending = loop.create_task(client.request(encode(GetStatus())))
            await asyncio.sleep(0)  # a yield: the request is made, its send not yet run
            await client.close()
            try:
                await pending
            except Unavailable as error:
                assert "closed" in str(error)
            else:
                raise AssertionError("a request on a closed client must fail")
            await asyncio.sleep(0)  # the send that was scheduled runs now, and finds it closed
        finally:
            context.destroy(linger=0)

    asyncio.run(run())
    assert errors == [], "nothing may fail inside the event loop's callbacks"
