"""Only the exchange's own processes speak on its bus, and nobody else listens.

A stranger on the operators' network tries what an attacker would, against real actors:
with no key at all, with a key pair it made itself (it knows every server's public key:
they are public), and holding the feed's own key (a process of the cluster, but not one
that may move money).  Nothing it sends moves a balance; nothing it subscribes to reaches
it; every refusal is counted in the metrics, by the stranger's address.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
from feedkit import start_feed

from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    BalancesReply,
    CancelOrder,
    CreateUser,
    Deposit,
    ErrorReply,
    GetBalances,
    GetTotals,
    OrderReply,
    PlaceOrder,
    TotalsReply,
    UserCreated,
    Withdraw,
)
from actors.engine.messages import Cancel, Place
from actors.engine.protocol import (
    EngineOutbound,
    EngineRequest,
    EngineStatus,
    StatusQuery,
    shard_identity,
)
from actors.engine.protocol import ErrorReply as EngineError
from bourse.peers import FEED, OPERATOR
from feed.protocol import FeedStatusQuery
from harness.cluster import ROOT, Cluster, cluster
from transport.framing import pack_rid, unpack_message
from transport.keys import secret_path, write_pair
from transport.pubsub import parse_published

USDT = 1_000_000
BTC = 100_000_000
NO_ANSWER_MS = 1500  # a handshake on loopback takes a few ms; a refusal never answers
SECRET = hashlib.sha256(b"alice").digest()
ENCODE = msgspec.msgpack.Encoder().encode


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Cluster]:
    with cluster(tmp_path, markets=("BTC-USDT",), shards=1) as c:
        c.start_actors()
        start_feed(c)
        yield c


class Stranger:
    """A process outside the exchange: plain sockets, or CURVE with keys of its choice."""

    def __init__(self, context: zmq.Context[Any], kind: str, keys: tuple[bytes, bytes] | None):
        self.context = context
        self.kind = kind
        self.keys = keys  # (public, secret), or None for no CURVE at all

    def socket(self, kind: int, server_key: bytes, identity: bytes = b"") -> zmq.Socket[bytes]:
        socket: zmq.Socket[bytes] = self.context.socket(kind)
        socket.setsockopt(zmq.LINGER, 0)
        if identity:
            socket.setsockopt(zmq.IDENTITY, identity)
        if self.keys is not None:
            socket.setsockopt(zmq.CURVE_PUBLICKEY, self.keys[0])
            socket.setsockopt(zmq.CURVE_SECRETKEY, self.keys[1])
            socket.setsockopt(zmq.CURVE_SERVERKEY, server_key)
        return socket

    def ask(
        self, endpoint: str, server_key: bytes, bodies: list[bytes], identity: bytes = b""
    ) -> list[bytes | None]:
        """The answers to requests sent together, None for each that none came to."""
        socket = self.socket(zmq.DEALER, server_key, identity)
        answers: dict[int, bytes] = {}
        try:
            socket.connect(endpoint)
            for rid, body in enumerate(bodies, 1):
                socket.send_multipart([pack_rid(rid), body])
            while len(answers) < len(bodies) and socket.poll(NO_ANSWER_MS):
                for envelope in unpack_message(socket.recv_multipart()) or ():
                    answers[envelope.rid] = envelope.body
        finally:
            socket.close(linger=0)
        return [answers.get(rid) for rid in range(1, len(bodies) + 1)]


def public_key(c: Cluster, process: str) -> bytes:
    (key,) = c.security(OPERATOR)._allow.keys_of(process)
    return key


def strangers(c: Cluster, tmp_path: Path) -> list[Stranger]:
    own = write_pair(tmp_path / "stranger-keys", "stranger")  # not in the cluster's folder
    feed_pair = zmq.auth.load_certificate(secret_path(c.keys_dir, FEED))
    assert feed_pair[1] is not None
    return [
        Stranger(c.context, "no key", None),
        Stranger(c.context, "its own key", (own.public, own.secret)),
        Stranger(c.context, "the feed's key", (feed_pair[0], feed_pair[1])),
    ]


def metric(c: Cluster, process_port: int, name: str, **labels: str) -> float:
    url = f"http://127.0.0.1:{process_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_stranger_moves_no_money_and_reads_nothing(running: Cluster, tmp_path: Path) -> None:
    c = running
    shard, engine = c.config.shards[0], c.config.engines["BTC-USDT"]
    gateway = c.shard_client(0)  # the harness speaks as the gateway does
    created = gateway.call(CreateUser(SECRET), AccountsReply)
    assert isinstance(created, UserCreated)
    alice = Auth(created.user_id, SECRET)
    assert isinstance(
        gateway.call(Deposit(alice, "USDT", 1_000 * USDT), AccountsReply), BalancesReply
    )
    order = gateway.call(
        PlaceOrder(alice, "BTC-USDT", "buy", "limit", price=100 * USDT, qty=BTC // 100),
        AccountsReply,
    )
    assert isinstance(order, OrderReply) and order.order.status == "new"
    order_id = order.order.order_id
    before = gateway.call(GetBalances(alice), AccountsReply)
    totals_before = gateway.call(GetTotals(Auth(0, b"", admin=True)), AccountsReply)
    assert isinstance(totals_before, TotalsReply)

    admin = Auth(alice.user_id, b"", admin=True)  # claims to be the operator
    forged = [
        Deposit(admin, "BTC", 1_000_000 * BTC),
        Withdraw(admin, "USDT", 999 * USDT),
        PlaceOrder(admin, "BTC-USDT", "sell", "market", qty=BTC // 100),
        CancelOrder(admin, order_id),
        GetBalances(admin),
    ]
    engine_forgeries = [
        EngineRequest(0, 1_000, Cancel(order_id, alice.user_id)),
        EngineRequest(0, 1, Place(1 << 60, alice.user_id, "sell", "market", 0, BTC)),
    ]
    shard_key, engine_key = public_key(c, shard.name), public_key(c, engine.name)
    feed_key = public_key(c, FEED)
    for stranger in strangers(c, tmp_path):
        reader = stranger.kind == "the feed's key"  # a process of the cluster, not the gateway
        replies = stranger.ask(shard.router.tcp, shard_key, [ENCODE(r) for r in forged])
        for request, reply in zip(forged, replies, strict=True):
            if reader:
                error = msgspec.msgpack.decode(reply or b"", type=AccountsReply)
                assert isinstance(error, ErrorReply) and error.status == 403, (request, error)
            else:
                assert reply is None, (stranger.kind, request)
        bodies = [ENCODE(r) for r in engine_forgeries]
        # With the shard's own ROUTER identity the connection is not even taken while the
        # shard holds it; without it, the handshake says who is asking.
        as_shard = stranger.ask(engine.router.tcp, engine_key, bodies, shard_identity(0))
        assert as_shard == [None] * len(bodies), stranger.kind
        *refused, status = stranger.ask(
            engine.router.tcp, engine_key, [*bodies, ENCODE(StatusQuery())]
        )
        if reader:
            for reply in refused:
                error = msgspec.msgpack.decode(reply or b"", type=EngineOutbound)
                assert isinstance(error, EngineError) and error.code == "FORBIDDEN"
            answer = msgspec.msgpack.decode(status or b"", type=EngineOutbound)
            assert isinstance(answer, EngineStatus)  # a reader may read
        else:
            assert [*refused, status] == [None] * (len(bodies) + 1), stranger.kind
        # The feed's ROUTER answers the gateway and the operator only: not even the feed.
        query = [ENCODE(FeedStatusQuery())]
        assert stranger.ask(c.config.feed_router.tcp, feed_key, query) == [None]

    assert gateway.call(GetBalances(alice), AccountsReply) == before
    assert gateway.call(GetTotals(Auth(0, b"", admin=True)), AccountsReply) == totals_before
    still = gateway.call(CancelOrder(alice, order_id), AccountsReply)
    assert isinstance(still, OrderReply) and still.order.status == "cancelled"  # it was open
    gateway.close()

    assert shard.metrics is not None and engine.metrics is not None
    for port in (shard.metrics.port, engine.metrics.port):
        failures = "bourse_bus_handshake_failures_total"
        # No CURVE at all fails before ZAP: libzmq reports it as a protocol failure, or
        # as an incomplete handshake when the stranger hangs up first.
        no_curve = sum(
            metric(c, port, failures, reason=reason) for reason in ("protocol", "incomplete")
        )
        assert no_curve >= 1
        assert metric(c, port, failures, peer="127.0.0.1", reason="unknown_key") >= 1
    refused = "bourse_bus_refused_messages_total"
    assert metric(c, shard.metrics.port, refused, peer="127.0.0.1", sender=FEED) == len(forged)
    assert metric(c, engine.metrics.port, refused, sender=FEED) == len(engine_forgeries)
    assert "message refused" in c.read_log(shard.name)


def test_a_strangers_subscriptions_receive_nothing(running: Cluster, tmp_path: Path) -> None:
    c = running
    shard, engine = c.config.shards[0], c.config.engines["BTC-USDT"]
    publishers = [
        (shard.pub.tcp, public_key(c, shard.name)),
        (engine.pub.tcp, public_key(c, engine.name)),
    ]
    subs = []
    for stranger in strangers(c, tmp_path)[:2]:  # the feed's key may subscribe: it is the feed
        for endpoint, key in publishers:
            sub = stranger.socket(zmq.SUB, key)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.connect(endpoint)
            subs.append(sub)
    # The feed's own subscriptions: what a stranger would have seen arrives here.
    feed = c.security(FEED)
    witnesses = []
    for endpoint, process in ((shard.pub.tcp, shard.name), (engine.pub.tcp, engine.name)):
        witness: zmq.Socket[bytes] = c.context.socket(zmq.SUB)
        witness.setsockopt(zmq.LINGER, 0)
        witness.setsockopt(zmq.SUBSCRIBE, b"")
        feed.connect(witness, endpoint, process)
        witnesses.append(witness)

    gateway = c.shard_client(0)
    maker, taker = (
        Auth(gateway.call(CreateUser(SECRET), AccountsReply).user_id, SECRET) for _ in range(2)
    )
    gateway.call(Deposit(taker, "USDT", 10_000 * USDT), AccountsReply)

    def poke() -> None:
        """A balance event on the shard's PUB, a book event on the engine's."""
        gateway.call(Deposit(maker, "BTC", BTC // 100), AccountsReply)
        resting = PlaceOrder(maker, "BTC-USDT", "sell", "limit", price=900 * USDT, qty=BTC // 100)
        placed = gateway.call(resting, AccountsReply)
        assert isinstance(placed, OrderReply)
        gateway.call(CancelOrder(maker, placed.order.order_id), AccountsReply)

    # Subscriptions take a moment to reach a publisher: poke until both witnesses hear.
    heard: set[int] = set()
    deadline = time.monotonic() + 10
    while len(heard) < len(witnesses):
        assert time.monotonic() < deadline, "the feed's subscriptions never took effect"
        poke()
        for index, witness in enumerate(witnesses):
            while witness.poll(10):
                witness.recv_multipart()
                heard.add(index)
    for side, who in (("sell", maker), ("buy", taker)):
        gateway.call(
            PlaceOrder(who, "BTC-USDT", side, "limit", price=100 * USDT, qty=BTC // 100),
            AccountsReply,
        )
    seen: set[bytes] = set()
    for witness in witnesses:
        while witness.poll(2_000 if not seen else 200):
            parsed = parse_published(witness.recv_multipart())
            assert parsed is not None
            seen.add(parsed[0].split(b".")[0])
    assert {b"book", b"trade", b"balances", b"orders", b"fills"} <= seen
    for sub in subs:
        assert not sub.poll(0), "a stranger received a published message"
    gateway.close()


def test_a_process_with_a_missing_or_wrong_key_stops_at_start_and_the_rest_serve(
    running: Cluster, tmp_path: Path
) -> None:
    c = running
    engine = c.config.engines["BTC-USDT"]
    c.stop(engine.name)
    key = secret_path(c.keys_dir, engine.name)
    kept = key.read_bytes()
    key.unlink()
    missing = run_engine(c)
    assert missing.returncode == 2
    assert f"the secret key of {engine.name} is missing: {key}" in missing.stderr
    write_pair(c.keys_dir / "elsewhere", engine.name)
    key.write_bytes((c.keys_dir / "elsewhere" / "secret" / key.name).read_bytes())
    wrong = run_engine(c)
    assert wrong.returncode == 2
    assert f"the key of {engine.name} in {key} is not one the cluster lists" in wrong.stderr
    gateway = c.shard_client(0)
    assert isinstance(gateway.call(CreateUser(SECRET), AccountsReply), UserCreated)
    gateway.close()
    key.write_bytes(kept)
    c.start_engine("BTC-USDT")  # with its own key back, it starts and serves


def run_engine(c: Cluster) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "control.cli", "--config", str(c.config_path)]
    return subprocess.run(
        [*command, "run", "engine", "--market", "BTC-USDT"],
        cwd=ROOT,
        env=c.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
