"""Limits that hold even for a buggy process of the cluster: what it sends on the bus
never grows an actor's memory or journal past a bound, and the actor keeps serving.

The peers here hold the cluster's own keys (a gateway's, a feed's): they pass the bus's
security, and only the limits stand between them and the actor.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    CreateUser,
    Deposit,
    ErrorReply,
    UserCreated,
)
from harness.cluster import ROOT, Cluster, cluster
from transport.framing import pack_rid

SECRET = hashlib.sha256(b"limits").digest()
ATTACKER = """
import os, sys
from pathlib import Path
import zmq
from bourse.peers import admits
from transport.security import BusSecurity
keys, endpoint, shard = sys.argv[1:]
context = zmq.Context()
feed = BusSecurity(Path(keys), "feed", admits, [])
for size in (200, 1 << 20):
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"balances." + b"9" * size)
    feed.connect(sub, endpoint, shard)
sys.stdin.read()
os._exit(0)
"""


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Cluster]:
    with cluster(tmp_path, markets=("BTC-USDT",), shards=1) as c:
        c.start_actors()
        yield c


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def journal_bytes(c: Cluster, actor: str) -> int:
    return sum(p.stat().st_size for p in (c.data_dir / actor).glob("journal-*.log"))


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


def test_a_padded_request_never_reaches_the_journal(running: Cluster) -> None:
    c = running
    gateway = c.shard_client(0)  # a buggy gateway: the right key, a wrong message
    created = gateway.call(CreateUser(SECRET), AccountsReply)
    assert isinstance(created, UserCreated)
    auth = Auth(created.user_id, SECRET)
    before = journal_bytes(c, "accounts-0")
    valid = msgspec.to_builtins(Deposit(auth, "USDT", 1_000), builtin_types=(bytes,))
    padded = msgspec.msgpack.encode({**valid, "padding": "x" * (512 << 10)})
    reply = msgspec.msgpack.decode(gateway.raw([pack_rid(7), padded])[1], type=AccountsReply)
    assert isinstance(reply, ErrorReply) and reply.code == "BAD_REQUEST"
    assert "padding" in reply.message  # the field it does not know, named
    # A body past the largest legal one is dropped whole, unread.
    gateway._socket.send_multipart(
        [pack_rid(8), msgspec.msgpack.encode({**valid, "p": "x" * (2 << 20)})]
    )
    assert journal_bytes(c, "accounts-0") == before
    gateway.close()

    # Past the largest legal message the connection is dropped, before anything is
    # decoded or journaled, and the shard serves on.
    shard_pid = c.processes["accounts-0"].pid
    rss = rss_kib(shard_pid)
    huge = c.shard_client(0)
    huge._socket.send_multipart([pack_rid(9), b"\x81" + b"x" * (64 << 20)])
    fresh = c.shard_client(0)
    assert isinstance(fresh.call(Deposit(auth, "USDT", 1_000), AccountsReply), object)
    assert journal_bytes(c, "accounts-0") > before  # the honest deposit, only
    assert rss_kib(shard_pid) < rss + 32 * 1024  # it never held the 64 MiB message
    huge.close()
    fresh.close()


def test_a_subscription_past_every_topic_is_refused_and_a_huge_one_dropped(
    running: Cluster,
) -> None:
    c = running
    shard = c.config.shards[0]
    assert shard.metrics is not None
    pid = c.processes["accounts-0"].pid
    rss = rss_kib(pid)
    # A buggy feed (the right key, absurd subscriptions), in a process of its own:
    # libzmq 4.3.5 crashes the process of a SUB whose connection keeps being dropped for
    # its subscription's size, when that process destroys its context.
    attacker = subprocess.Popen(
        [sys.executable, "-c", ATTACKER, str(c.keys_dir), shard.pub.tcp, shard.name],
        cwd=ROOT,
        stdin=subprocess.PIPE,
    )
    # The 200-byte one passes the socket's size limit and is refused by the publisher.
    deadline = time.monotonic() + 10
    refused = "bourse_pub_subscriptions_refused"
    while metric(shard.metrics.port, refused) < 1:
        assert time.monotonic() < deadline, "the long subscription was not refused"
        time.sleep(0.05)  # polling the shard's own metrics
    assert metric(shard.metrics.port, "bourse_pub_subscriptions") == 0
    assert rss_kib(pid) < rss + 8 * 1024  # the 1 MiB one never got in: dropped whole
    status = c.shard_client(0)
    assert isinstance(status.call(CreateUser(SECRET), AccountsReply), UserCreated)
    status.close()
    assert attacker.stdin is not None
    attacker.stdin.close()  # it leaves at once
    attacker.wait(10)
