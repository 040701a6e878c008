"""Market-data fan-out benchmark: feed relays, many WebSocket subscribers, a real order flow.

What it measures: how long a public event takes from the engine's PUB socket to a
WebSocket subscriber (conflation included), how many messages per second the relays
deliver, and the CPU each relay uses, with ``--subscribers`` connections (default 1,000)
all subscribed to one market's ``depth`` and ``trades``, spread by the kernel over
``--relays`` relays (default 1) that share one WebSocket port; then raises the order flow
until the relays no longer keep pace and says where.

How:
- ``harness/cluster.py`` writes a config on free 127.0.0.1 ports into a temporary folder
  and starts two engines, two accounts shards and the relays (``bourse run feed
  [--relay N]``) as real processes.  The harness config conflates depth over 20 ms
  (``--conflate-ms`` changes it).
- A recorder process subscribes to the engine's PUB socket itself and notes, per market
  sequence number and per trade id, when each event was published (wall clock, ns).
- The subscribers live in this process on uvloop, as plain asyncio protocols speaking
  just enough WebSocket (handshake, unmasked server frames, pong, close), so that the
  client side costs little.  Every connection counts its messages; every
  ``--sample-every``-th one also decodes them and records the delay: for a depth update,
  from the publication of the first event it covers (``prev_seq + 1``, so the whole
  conflation window counts) to its arrival; for a trade, from the publication of the
  trade to its arrival.
- An order-flow process sends GTC limit orders around a fixed mid price (about a third
  of them cross) and cancels of its own resting orders, on a timetable at the offered
  rate, through the accounts shards.
- Phase one runs ``--rate`` orders/s (default 200) for ``--duration`` seconds.  Then the
  rate doubles each phase (``--ramp``) until the feed stops keeping pace.  A phase keeps
  pace when no subscriber was dropped as a slow consumer, each relay's one thread stayed
  under 95% of a core, and the median delay over the phase's last quarter stayed under
  ``--max-lag-ms`` (a feed that falls behind builds a backlog, and the delay grows through
  the phase).  Tail percentiles are reported, not judged: on a machine shared with other
  work they measure the scheduler as much as the feed.  A phase where the order flow
  itself fell short of its rate is reported as such (the limit is then upstream).
- Relay CPU comes from /proc/<pid>/stat (user + system time over the phase), per relay.

The last line of output is one JSON object:
``{"bench": "fanout", "subscribers": N, "relays": R, "p50_ms": X, "p99_ms": Y,
"msgs_per_s": M, "peak_msgs_per_s": P}``: delays and delivery of phase one, and the most
messages per second delivered in a phase that kept pace.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import multiprocessing
import os
import platform
import random
import resource
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import msgspec
import zmq
import zmq.asyncio

from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    CancelOrder,
    CreateUser,
    Deposit,
    ErrorReply,
    GetStatus,
    OrderReply,
    PlaceOrder,
    UserCreated,
)
from actors.engine.protocol import (
    BookMessage,
    EngineOutbound,
    EngineStatus,
    MarketEvents,
    PublicTrade,
    StatusQuery,
    book_topic,
)
from bench.proc import cpu_seconds, machine_busy_seconds
from bench.stats import percentiles
from bourse.config import FeedRelay, load_config
from bourse.peers import GATEWAY, admits, engine_name, shard_name
from feed.protocol import FeedReply, FeedStatus, FeedStatusQuery
from harness.cluster import Cluster, cluster
from transport.client import DealerClient, RequestError
from transport.pubsub import parse_published
from transport.security import BusSecurity

MARKET = "BTC-USDT"
MID = 30_000_000_000  # 30,000.00 USDT in units
TICK = 10_000
LOT = 10_000  # 0.0001 BTC


# --- the recorder: when each event left the engine ----------------------------------------------


def recorder(endpoint: str, market: str, keys_dir: str, relay: str, pipe: Connection) -> None:
    """Subscribe to the engine's book topic (as a relay does, with its key); on request,
    send the publication times."""
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, book_topic(market))
    BusSecurity(Path(keys_dir), relay, admits, []).connect(sub, endpoint, engine_name(market))
    decode = msgspec.msgpack.Decoder(BookMessage).decode
    seqs: dict[int, int] = {}
    trades: dict[int, int] = {}
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    pipe.send("ready")
    while True:
        if dict(poller.poll(50)).get(sub):
            while True:
                try:
                    frames = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = time.time_ns()
                parsed = parse_published(frames)
                if parsed is None:
                    continue
                message = decode(parsed[2])
                if not isinstance(message, MarketEvents):
                    continue  # a heartbeat
                for event in message.events:
                    seqs[event.seq] = now
                    if isinstance(event, PublicTrade):
                        trades[event.trade_id] = now
        if pipe.poll():
            if pipe.recv() == "dump":
                pipe.send((seqs, trades))
            else:
                break
    context.destroy(linger=0)


# --- the order flow -----------------------------------------------------------------------


@dataclass
class FlowResult:
    sent: int = 0
    answered: int = 0
    errors: int = 0
    seconds: float = 0.0


def flow(
    shards: list[str],
    accounts: list[tuple[int, bytes]],
    rate: float,
    seconds: float,
    seed: int,
    keys_dir: str,
) -> FlowResult:
    import uvloop

    return uvloop.run(_flow(shards, accounts, rate, seconds, seed, keys_dir))


async def _flow(
    shards: list[str],
    accounts: list[tuple[int, bytes]],
    rate: float,
    seconds: float,
    seed: int,
    keys_dir: str,
) -> FlowResult:
    context = zmq.asyncio.Context()
    security = BusSecurity(Path(keys_dir), GATEWAY, admits, [])
    clients = [
        DealerClient(context, [(s, shard_name(i))], shard_name(i), 10.0, security)
        for i, s in enumerate(shards)
    ]
    for client in clients:
        await _connect(client)
    rng = random.Random(seed)
    auths = [Auth(user, key) for user, key in accounts]
    resting: list[tuple[Auth, int]] = []
    result = FlowResult()
    encode = msgspec.msgpack.encode
    decode = msgspec.msgpack.Decoder(AccountsReply).decode
    inflight: set[asyncio.Task[None]] = set()

    async def send(auth: Auth, request: object) -> None:
        try:
            body = await clients[auth.user_id >> 40].request(encode(request))
        except RequestError:
            result.errors += 1
            return
        reply = decode(body)
        result.answered += 1
        if isinstance(reply, ErrorReply):
            result.errors += 1
        elif isinstance(reply, OrderReply) and reply.order.status in ("new", "partially_filled"):
            resting.append((auth, reply.order.order_id))

    start = time.monotonic()
    total = int(rate * seconds)
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # the timetable of an open-loop load
        auth = rng.choice(auths)
        if len(resting) > 200 and rng.random() < 0.45:
            owner, order_id = resting.pop(rng.randrange(len(resting)))
            request: object = CancelOrder(owner, order_id)
            auth = owner
        else:
            side = rng.choice(("buy", "sell"))
            offset = rng.randint(-6, 14) * TICK
            price = MID - offset if side == "buy" else MID + offset
            request = PlaceOrder(
                auth, MARKET, side, "limit", price=price, qty=rng.randint(1, 20) * LOT
            )
        task = asyncio.get_running_loop().create_task(send(auth, request))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
        result.sent += 1
    if inflight:
        await asyncio.wait(inflight, timeout=30)
    result.seconds = time.monotonic() - start
    for client in clients:
        await client.close()
    context.destroy(linger=0)
    return result


async def _connect(client: DealerClient) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            await client.request(msgspec.msgpack.encode(GetStatus()), 1.0)
            return
        except RequestError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)


# --- a light WebSocket subscriber ------------------------------------------------------------


@dataclass
class Counters:
    messages: int = 0
    bytes: int = 0
    closed: list[int] = field(default_factory=list)
    # (arrival ns, kind, key): kind "d" keys the first seq an update covers, "t" a trade id
    samples: list[tuple[int, str, int]] = field(default_factory=list)
    snapshots: int = 0


class Subscriber(asyncio.Protocol):
    def __init__(self, counters: Counters, sample: bool, requests: list[bytes]) -> None:
        self.counters = counters
        self.sample = sample
        self.requests = requests
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.snapshot = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(
            (
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Key: {self.key}\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(buffer[:200]).decode()))
                return
            del buffer[: end + 4]
            self.open = True
            assert self.transport is not None
            for request in self.requests:
                self.transport.write(_client_frame(0x1, request))
        now = time.time_ns()
        counters = self.counters
        offset = 0
        size = len(buffer)
        while size - offset >= 2:
            opcode = buffer[offset] & 0x0F
            length = buffer[offset + 1] & 0x7F
            head = 2
            if length == 126:
                if size - offset < 4:
                    break
                length = struct.unpack_from(">H", buffer, offset + 2)[0]
                head = 4
            elif length == 127:
                if size - offset < 10:
                    break
                length = struct.unpack_from(">Q", buffer, offset + 2)[0]
                head = 10
            if size - offset < head + length:
                break
            start = offset + head
            offset = start + length
            if opcode == 0x1:
                counters.messages += 1
                counters.bytes += length
                if self.sample or not self.snapshot:
                    self._message(bytes(buffer[start:offset]), now)
            elif opcode == 0x9:
                assert self.transport is not None
                self.transport.write(_client_frame(0xA, bytes(buffer[start:offset])))
            elif opcode == 0x8:
                code = struct.unpack_from(">H", buffer, start)[0] if length >= 2 else 1005
                counters.closed.append(code)
        del buffer[:offset]

    def _message(self, data: bytes, now: int) -> None:
        message = json.loads(data)
        channel = message.get("channel")
        if channel == "depth" and "op" not in message:
            if message["type"] == "snapshot":
                self.counters.snapshots += 1
                if not self.snapshot:
                    self.snapshot = True
                    self.ready.set_result(None)
            elif self.sample:
                self.counters.samples.append((now, "d", message["prev_seq"] + 1))
        elif channel == "trades" and "op" not in message and self.sample:
            self.counters.samples.append((now, "t", int(message["trade_id"])))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"connection lost: {exc}"))


def _client_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = struct.pack(">BB", 0x80 | opcode, 0x80 | length)
    else:
        head = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Phase:
    rate: float
    start_ns: int = 0
    end_ns: int = 0
    messages: int = 0
    bytes: int = 0  # payload bytes of those messages
    relay_rss_mb: list[float] = field(default_factory=list)  # at the phase's end
    feed_cpu: float = 0.0  # every relay's, summed
    relay_cpu: list[float] = field(default_factory=list)
    machine_cpu: float = 0.0
    bench_cpu: float = 0.0
    seconds: float = 0.0
    flow: FlowResult | None = None
    dropped: int = 0
    ingest_lag: int = 0
    delays_ms: list[float] = field(default_factory=list)
    trade_delays_ms: list[float] = field(default_factory=list)
    depth_delays_ms: list[float] = field(default_factory=list)
    tail_delays_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        flow = self.flow or FlowResult()
        p50, p99, p999 = percentiles(self.delays_ms, 0.50, 0.99, 0.999)
        depth_p50, depth_p99 = percentiles(self.depth_delays_ms, 0.50, 0.99)
        trade_p50, trade_p99 = percentiles(self.trade_delays_ms, 0.50, 0.99)
        (tail_p50,) = percentiles(self.tail_delays_ms, 0.5)
        return {
            "rate": self.rate,
            "orders_sent_per_s": round(flow.sent / max(flow.seconds, 1e-9), 1),
            "orders_answered": flow.answered,
            "order_errors": flow.errors,
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "depth_p50_ms": round(depth_p50, 2),
            "depth_p99_ms": round(depth_p99, 2),
            "trade_p50_ms": round(trade_p50, 2),
            "trade_p99_ms": round(trade_p99, 2),
            "p999_ms": round(p999, 2),
            "last_quarter_p50_ms": round(tail_p50, 2),
            "samples": len(self.delays_ms),
            "msgs_per_s": round(self.messages / self.seconds),
            "feed_cpu_pct": round(100 * self.feed_cpu / self.seconds, 1),
            "relay_cpu_pct": [round(100 * cpu / self.seconds, 1) for cpu in self.relay_cpu],
            "feed_us_per_msg": round(1e6 * self.feed_cpu / max(self.messages, 1), 2),
            "bytes_per_msg": round(self.bytes / max(self.messages, 1), 1),
            "relay_rss_mb": self.relay_rss_mb,
            "machine_cpu_pct": round(100 * self.machine_cpu / self.seconds, 1),
            "subscribers_cpu_pct": round(100 * self.bench_cpu / self.seconds, 1),
            "slow_consumers_dropped": self.dropped,
            "feed_ingest_lag_max": self.ingest_lag,
        }


# --- the run ---------------------------------------------------------------------------------


def create_accounts(c: Cluster, per_shard: int) -> list[tuple[int, bytes]]:
    accounts = []
    for shard in range(len(c.config.shards)):
        client = c.shard_client(shard)
        try:
            for number in range(per_shard):
                key_hash = hashlib.sha256(f"bench-{shard}-{number}".encode()).digest()
                created = client.call(CreateUser(key_hash), AccountsReply)
                assert isinstance(created, UserCreated), created
                auth = Auth(created.user_id, key_hash)
                for asset, amount in (("USDT", 10**15), ("BTC", 10**13)):
                    reply = client.call(Deposit(auth, asset, amount), AccountsReply)
                    assert not isinstance(reply, ErrorReply), reply
                accounts.append((created.user_id, key_hash))
        finally:
            client.close()
    return accounts


def rss_mb(pid: int) -> float:
    """A process's resident memory (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def relay_status(c: Cluster, relay: FeedRelay, timeout_s: float) -> FeedStatus | None:
    client = c.client(relay.name, relay.router.connect, GATEWAY)
    try:
        status = client.call(FeedStatusQuery(), FeedReply, timeout_s)
        return status if isinstance(status, FeedStatus) else None
    except TimeoutError:
        return None
    finally:
        client.close()


def wait_feed(c: Cluster) -> None:
    """Until every relay answers (each binds its ROUTER once it caught up)."""
    deadline = time.monotonic() + 30
    for relay in c.config.feed_relays:
        while relay_status(c, relay, 0.3) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{relay.name} not ready: {c.read_log(relay.name)}")


def ingest_lag(c: Cluster) -> int:
    """Engine events the slowest relay had not applied yet: engine seq minus the relay's,
    asked in that order (so the figure can only overstate the lag by what happened in
    between)."""
    engine = c.engine_client(MARKET)
    try:
        status = engine.call(StatusQuery(), EngineOutbound, 5.0)
    except TimeoutError:
        return -1
    finally:
        engine.close()
    if not isinstance(status, EngineStatus):
        return -1
    lags = []
    for relay in c.config.feed_relays:
        feed_status = relay_status(c, relay, 5.0)
        if feed_status is None:
            return -1
        lags.append(status.seq - feed_status.markets[MARKET])
    return max(lags)


def relay_subscribers(c: Cluster) -> list[int]:
    """Each relay's count of open connections; -1 for one that does not answer in 30 s."""
    counts = []
    for relay in c.config.feed_relays:
        status = relay_status(c, relay, 30.0)
        counts.append(-1 if status is None else status.subscribers)
    return counts


def feed_subscribers(c: Cluster) -> int:
    """Open connections over every relay; -1 when one does not answer."""
    counts = relay_subscribers(c)
    return -1 if -1 in counts else sum(counts)


async def open_subscribers(
    port: int, count: int, sample_every: int, counters: Counters
) -> list[Subscriber]:
    loop = asyncio.get_running_loop()
    requests = [
        json.dumps({"op": "subscribe", "channel": "depth", "market": MARKET}).encode(),
        json.dumps({"op": "subscribe", "channel": "trades", "market": MARKET}).encode(),
    ]
    subscribers: list[Subscriber] = []
    for first in range(0, count, 100):
        batch = []
        for i in range(first, min(count, first + 100)):
            subscriber = Subscriber(counters, i % sample_every == 0, requests)
            await loop.create_connection(lambda s=subscriber: s, "127.0.0.1", port)
            batch.append(subscriber)
        await asyncio.wait_for(asyncio.gather(*(s.ready for s in batch)), 60)
        subscribers.extend(batch)
    return subscribers


async def run_phases(
    c: Cluster,
    args: argparse.Namespace,
    accounts: list[tuple[int, bytes]],
    recorder_pipe: Connection,
) -> tuple[list[Phase], int]:
    counters = Counters()
    relay_pids = [c.processes[relay.name].pid for relay in c.config.feed_relays]
    t0 = time.monotonic()
    subscribers = await open_subscribers(
        c.config.feed_ws.port, args.subscribers, args.sample_every, counters
    )
    spread = await asyncio.to_thread(relay_subscribers, c)
    print(
        f"{len(subscribers)} subscribers connected and synced in {time.monotonic() - t0:.1f} s; "
        f"per relay: {spread}",
        flush=True,
    )
    shards = [s.router.connect for s in c.config.shards]
    loop = asyncio.get_running_loop()
    phases: list[Phase] = []
    rates = [args.rate]
    rate = args.rate
    for _ in range(args.ramp):
        rate *= 2
        rates.append(rate)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        for number, rate in enumerate(rates):
            phase = Phase(rate)
            open_before = await asyncio.to_thread(feed_subscribers, c)
            messages_before = counters.messages
            bytes_before = counters.bytes
            cpu_before = [cpu_seconds(pid) for pid in relay_pids]
            machine_before = machine_busy_seconds()
            bench_before = cpu_seconds(os.getpid())
            phase.start_ns = time.time_ns()
            started = time.monotonic()
            orders = loop.run_in_executor(
                None,
                lambda rate=rate, number=number: pool.apply(
                    flow, (shards, accounts, rate, args.duration, number, str(c.keys_dir))
                ),
            )
            while not orders.done():
                lag = await asyncio.to_thread(ingest_lag, c)
                phase.ingest_lag = max(phase.ingest_lag, lag)
                await asyncio.wait([orders], timeout=1.0)  # sample about once a second
            phase.flow = await orders
            phase.seconds = time.monotonic() - started
            phase.end_ns = time.time_ns()
            phase.messages = counters.messages - messages_before
            phase.bytes = counters.bytes - bytes_before
            phase.relay_rss_mb = [rss_mb(pid) for pid in relay_pids]
            spent = zip(relay_pids, cpu_before, strict=True)
            phase.relay_cpu = [cpu_seconds(pid) - before for pid, before in spent]
            phase.feed_cpu = sum(phase.relay_cpu)
            phase.machine_cpu = machine_busy_seconds() - machine_before
            phase.bench_cpu = cpu_seconds(os.getpid()) - bench_before
            # Counted by the feed: a starved subscriber may not have read its close yet.
            open_after = await asyncio.to_thread(feed_subscribers, c)
            unknown = open_before < 0 or open_after < 0
            phase.dropped = -1 if unknown else open_before - open_after
            phases.append(phase)
            _fill_delays([phase], counters, recorder_pipe)
            print(f"phase {number + 1}: {json.dumps(phase.summary())}", flush=True)
            if keeps_pace(phase, args) != "yes":
                break  # the feed fell behind, or the order flow could not go faster
    _fill_delays(phases, counters, recorder_pipe)
    left = await asyncio.to_thread(feed_subscribers, c)
    for subscriber in subscribers:
        if subscriber.transport is not None:
            subscriber.transport.close()
    return phases, left


def _fill_delays(phases: list[Phase], counters: Counters, pipe: Connection) -> None:
    pipe.send("dump")
    seqs, trades = pipe.recv()
    for phase in phases:
        phase.delays_ms.clear()
        phase.depth_delays_ms.clear()
        phase.trade_delays_ms.clear()
        phase.tail_delays_ms.clear()
        tail = phase.end_ns - (phase.end_ns - phase.start_ns) // 4
        for arrival, kind, key in counters.samples:
            if not phase.start_ns <= arrival <= phase.end_ns:
                continue
            published = seqs.get(key) if kind == "d" else trades.get(key)
            if published is None:
                continue
            delay = (arrival - published) / 1e6
            phase.delays_ms.append(delay)
            (phase.depth_delays_ms if kind == "d" else phase.trade_delays_ms).append(delay)
            if arrival >= tail:
                phase.tail_delays_ms.append(delay)


def keeps_pace(phase: Phase, args: argparse.Namespace) -> str:
    flow = phase.flow or FlowResult()
    if phase.dropped < 0:
        return "no: the feed did not answer a status query within 30 s"
    if phase.dropped:
        return f"no: {phase.dropped} subscribers dropped as slow consumers"
    cpu = 100 * max(phase.relay_cpu, default=0.0) / phase.seconds
    if cpu >= 95:
        return f"no: a relay used {cpu:.0f}% of a core"
    (lag,) = percentiles(phase.tail_delays_ms, 0.5)
    if not lag < args.max_lag_ms:
        return f"no: median delay over the last quarter {lag:.0f} ms >= {args.max_lag_ms:g} ms"
    if flow.sent / max(flow.seconds, 1e-9) < 0.9 * phase.rate:
        return "yes (but the order flow fell short of its rate upstream)"
    return "yes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="orders/s in phase one")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--ramp", type=int, default=5, help="doublings after phase one")
    parser.add_argument("--max-lag-ms", type=float, default=500.0)
    parser.add_argument("--sample-every", type=int, default=10)
    parser.add_argument("--conflate-ms", type=int, default=None)
    parser.add_argument("--relays", type=int, default=1, help="feed relays sharing one port")
    args = parser.parse_args(argv)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.subscribers * 2 + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    with tempfile.TemporaryDirectory() as folder, cluster(Path(folder), relays=args.relays) as c:
        if args.conflate_ms is not None:
            text = c.config_path.read_text()
            c.config_path.write_text(
                text.replace("conflate_ms = 20", f"conflate_ms = {args.conflate_ms}")
            )
            c.config = load_config(c.config_path)
        c.start_actors()
        c.start_relays()
        wait_feed(c)
        accounts = create_accounts(c, 4)
        parent, child = multiprocessing.get_context("spawn").Pipe()
        recorder_process = multiprocessing.get_context("spawn").Process(
            target=recorder,
            args=(
                c.config.engines[MARKET].pub.connect,
                MARKET,
                str(c.keys_dir),
                c.config.feed_relays[0].name,
                child,
            ),
        )
        recorder_process.start()
        assert parent.recv() == "ready"
        import uvloop

        phases, subscribers_left = uvloop.run(run_phases(c, args, accounts, parent))
        parent.send("stop")
        recorder_process.join(10)
        feed_log = "".join(c.logs[relay.name].read_text() for relay in c.config.feed_relays)
        slow_closed = feed_log.count("slow consumer closed")
        failures = [line for line in feed_log.splitlines() if '"level":"error"' in line]

    print(
        f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; relays = {args.relays}, "
        f"conflate_ms = {c.config.raw.feed.conflate_ms}, "
        f"send_queue = {c.config.raw.feed.send_queue}"
    )
    for number, phase in enumerate(phases):
        summary = phase.summary()
        print(f"phase {number + 1}: {json.dumps(summary)}; keeps pace: {keeps_pace(phase, args)}")
    limit = next((p for p in phases if not keeps_pace(p, args).startswith("yes")), None)
    if limit is not None:
        print(f"the feed stopped keeping pace at {limit.rate:g} orders/s")
    elif keeps_pace(phases[-1], args) != "yes":
        print(
            f"the feed kept pace up to {phases[-1].rate:g} orders/s offered, where the order "
            "flow upstream of it could not keep its rate"
        )
    else:
        print(f"the feed kept pace up to {phases[-1].rate:g} orders/s (the last phase run)")
    print(f"subscribers still connected at the end: {subscribers_left}")
    print(f"relay logs: {slow_closed} slow consumers closed, {len(failures)} errors")
    for line in failures[:5]:
        print(f"  {line[:300]}")
    first = phases[0].summary()
    kept = [p.summary()["msgs_per_s"] for p in phases if keeps_pace(p, args).startswith("yes")]
    peak = max(kept, default=0)
    print(f"peak: {peak} messages/s delivered in a phase that kept pace")
    print(
        json.dumps(
            {
                "bench": "fanout",
                "subscribers": args.subscribers,
                "relays": args.relays,
                "p50_ms": first["p50_ms"],
                "p99_ms": first["p99_ms"],
                "msgs_per_s": first["msgs_per_s"],
                "peak_msgs_per_s": peak,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
