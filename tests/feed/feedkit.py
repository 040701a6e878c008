"""Test helpers for the feed: a real cluster with the feed, real WebSocket clients, a
client-side depth book that checks every ``prev_seq`` and checksum on its own, and a
trader that places orders through the accounts shards.

Nothing here sleeps to synchronise: waits are for a message or a condition, with a
deadline; only a poll of the feed's ROUTER paces itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import zmq
import zmq.asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

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
from actors.engine.protocol import DepthQuery, DepthReply, EngineOutbound
from bourse.config import load_config
from bourse.peers import GATEWAY
from feed.protocol import FeedQuery, FeedReply, FeedStatus, FeedStatusQuery
from harness.cluster import Cluster, cluster
from transport.blocking import BlockingClient
from transport.client import DealerClient, RequestError

DEADLINE_S = 20.0


# --- the cluster ------------------------------------------------------------------------------


def add_feed_options(c: Cluster, *lines: str) -> None:
    """Append keys to the config's ``[feed]`` table (the harness writes it last)."""
    with c.config_path.open("a") as file:
        file.write("".join(f"{line}\n" for line in lines))
    c.config = load_config(c.config_path)


def start_feed(c: Cluster) -> None:
    c.start("feed", "feed")
    wait_feed(c)


def wait_feed(c: Cluster, timeout_s: float = DEADLINE_S) -> None:
    """Until the feed's ROUTER answers and its WebSocket port accepts."""
    deadline = time.monotonic() + timeout_s
    while True:
        process = c.processes.get("feed")
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"feed exited: {c.read_log('feed')}")
        try:
            if isinstance(feed_query(c, FeedStatusQuery(), 0.2), FeedStatus):
                with socket.create_connection(("127.0.0.1", c.config.feed_ws.port), 0.2):
                    return
        except (TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"feed not ready: {c.read_log('feed')}")


def feed_query(c: Cluster, query: FeedQuery, timeout_s: float = 3.0) -> FeedReply:
    client = c.feed_client()
    try:
        reply: FeedReply = client.call(query, FeedReply, timeout_s)
        return reply
    finally:
        client.close()


def engine_depth(c: Cluster, market: str) -> DepthReply:
    client = c.engine_client(market)
    try:
        reply = client.call(DepthQuery(limit=0), EngineOutbound)
        assert isinstance(reply, DepthReply), reply
        return reply
    finally:
        client.close()


@contextmanager
def feed_cluster(
    folder: Path,
    *options: str,
    replace: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """A running feed and its actors; ``options`` are added to ``[feed]``, ``replace``
    changes lines the harness wrote."""
    with cluster(folder) as c:
        if replace:
            text = c.config_path.read_text()
            for old, new in replace.items():
                assert old in text, old
                text = text.replace(old, new)
            c.config_path.write_text(text)
            c.config = load_config(c.config_path)
        if options:
            add_feed_options(c, *options)
        c.start_actors()
        start_feed(c)
        yield c


# --- units ------------------------------------------------------------------------------------


def price_text(units: int) -> str:
    """USDT prices in the test config: six decimals, shown with two."""
    return f"{units // 10**6}.{units % 10**6 // 10**4:02d}"


def qty_text(units: int, market: str) -> str:
    places = 4 if market.startswith("BTC") else 3
    return f"{units // 10**8}.{units % 10**8 // 10 ** (8 - places):0{places}d}"


def crc(asks: list[list[str]], bids: list[list[str]]) -> int:
    """docs/api.md's checksum, written from the text of the contract, not from feed/book.py."""
    text = ":".join(f"{p}:{q}" for p, q in asks[:10])
    if bids[:10]:
        text += (":" if text else "") + ":".join(f"{p}:{q}" for p, q in bids[:10])
    return zlib.crc32(text.encode())


# --- a client-side depth book -------------------------------------------------------------------


class DepthError(AssertionError):
    pass


@dataclass
class DepthModel:
    market: str
    seq: int = -1
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)
    snapshots: int = 0
    updates: int = 0

    def apply(self, message: dict[str, Any]) -> None:
        if message["type"] == "snapshot":
            self.bids = dict(message["bids"])
            self.asks = dict(message["asks"])
            self.seq = message["seq"]
            self.snapshots += 1
        else:
            if self.seq < 0:
                raise DepthError(f"update before snapshot: {message}")
            if message["prev_seq"] != self.seq:
                raise DepthError(f"prev_seq {message['prev_seq']} != {self.seq}: {message}")
            if message["seq"] < message["prev_seq"]:
                raise DepthError(f"seq went back: {message}")
            for side, levels in (("bids", message["bids"]), ("asks", message["asks"])):
                book = self.bids if side == "bids" else self.asks
                for price, qty in levels:
                    if set(qty) <= {"0", "."}:
                        book.pop(price, None)
                    else:
                        book[price] = qty
            self.seq = message["seq"]
            self.updates += 1
        expected = crc(self.sorted_asks(), self.sorted_bids())
        if message["checksum"] != expected:
            raise DepthError(f"checksum {message['checksum']} != {expected} at seq {self.seq}")

    def sorted_bids(self) -> list[list[str]]:
        return [[p, self.bids[p]] for p in sorted(self.bids, key=_decimal_key, reverse=True)]

    def sorted_asks(self) -> list[list[str]]:
        return [[p, self.asks[p]] for p in sorted(self.asks, key=_decimal_key)]

    def matches(self, reply: DepthReply) -> bool:
        bids = [[price_text(p), qty_text(q, self.market)] for p, q in reply.bids]
        asks = [[price_text(p), qty_text(q, self.market)] for p, q in reply.asks]
        return self.seq == reply.seq and self.sorted_bids() == bids and self.sorted_asks() == asks


def _decimal_key(text: str) -> tuple[int, int]:
    whole, _, fraction = text.partition(".")
    return int(whole), int(fraction.ljust(8, "0"))


# --- a WebSocket client --------------------------------------------------------------------------


def is_push(message: dict[str, Any], channel: str) -> bool:
    """A channel message, not an ack or error naming that channel."""
    return message.get("channel") == channel and "op" not in message


class FeedClient:
    """Reads everything in the background; keeps depth models and every message."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.depth: dict[str, DepthModel] = {}
        self.error: BaseException | None = None
        self.closed = False
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._changed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int, timeout_s: float = DEADLINE_S, **options: Any) -> FeedClient:
        return cls(await open_ws(port, timeout_s, **options))

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                self.messages.append(message)
                if message.get("channel") == "depth" and "op" not in message:
                    model = self.depth.setdefault(message["market"], DepthModel(message["market"]))
                    model.apply(message)
                self._changed.set()
        except ConnectionClosed:
            pass
        except BaseException as error:
            self.error = error
        finally:
            self.closed = True
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self._changed.set()

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def subscribe(self, channel: str, market: str | None = None, **extra: str) -> None:
        request: dict[str, str] = {"op": "subscribe", "channel": channel, **extra}
        if market is not None:
            request["market"] = market
        await self.send(request)

    async def wait(
        self, condition: Callable[[], Any], timeout_s: float = DEADLINE_S, what: str = ""
    ) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.error is not None:
                raise self.error
            result = condition()
            if result:
                return result
            if self.closed:
                raise AssertionError(f"closed ({self.close_code}) waiting for {what}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"waiting for {what}; last messages {self.messages[-5:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def next_matching(
        self, predicate: Callable[[dict[str, Any]], bool], start: int = 0, what: str = ""
    ) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((m for m in self.messages[start:] if predicate(m)), None)

        result: dict[str, Any] = await self.wait(found, what=what)
        return result

    def of(self, channel: str, market: str | None = None) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if m.get("channel") == channel
            and "op" not in m
            and (market is None or m.get("market") == market)
        ]

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def eventually(
    condition: Callable[[], bool], timeout_s: float = DEADLINE_S, what: str = ""
) -> None:
    """Poll a real condition until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout_s}s: {what}")
        await asyncio.sleep(0.02)  # the poll's pace


async def ws_from(port: int, source: str, **options: Any) -> ClientConnection:
    """A WebSocket to the feed from ``source`` (any 127.x.y.z): a client address of its own."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return await connect(f"ws://127.0.0.1:{port}/ws", sock=sock, open_timeout=5, **options)


async def open_ws(port: int, timeout_s: float = DEADLINE_S, **options: Any) -> ClientConnection:
    """Connect, retrying while the feed is not (yet, or again) listening."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5, **options)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)  # a retry pace, not a synchronisation


# --- a trader --------------------------------------------------------------------------------


@dataclass
class Account:
    auth: Auth
    api_key: str


class Trader:
    """Users with deep pockets on every shard, placing orders through the shards."""

    MID = {"BTC-USDT": 30_000_000_000, "ETH-USDT": 2_000_000_000}
    LOT = {"BTC-USDT": 10_000, "ETH-USDT": 100_000}
    TICK = 10_000

    def __init__(self, c: Cluster, users_per_shard: int = 2, seed: int = 7) -> None:
        self.c = c
        self.rng = random.Random(seed)
        self.accounts: list[Account] = []
        for shard in range(len(c.config.shards)):
            client = c.shard_client(shard)
            try:
                for _ in range(users_per_shard):
                    self.accounts.append(self._create(client, shard))
            finally:
                client.close()
        self.context = zmq.asyncio.Context()
        self.shards = [
            DealerClient(self.context, s.routers, s.name, 5.0, c.security(GATEWAY))
            for s in c.config.shards
        ]
        self.open_orders: list[tuple[Account, int]] = []
        self.replies = 0
        self._connected = False

    def _create(self, client: BlockingClient, shard: int) -> Account:
        secret = f"secret-{shard}-{len(self.accounts)}-{self.rng.random()}"
        key_hash = hashlib.sha256(secret.encode()).digest()
        created = client.call(CreateUser(key_hash), AccountsReply)
        assert isinstance(created, UserCreated), created
        auth = Auth(created.user_id, key_hash)
        for asset, amount in (("USDT", 10**15), ("BTC", 10**13), ("ETH", 10**14)):
            reply = client.call(Deposit(auth, asset, amount), AccountsReply)
            assert not isinstance(reply, ErrorReply), reply
        return Account(auth, f"{created.user_id}.{secret}")

    async def connect(self, timeout_s: float = DEADLINE_S) -> None:
        """Until every shard's DEALER is connected (it refuses to queue before)."""
        deadline = time.monotonic() + timeout_s
        for client in self.shards:
            while True:
                try:
                    await client.request(msgspec.msgpack.encode(GetStatus()), 1.0)
                    break
                except RequestError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.01)  # a retry pace, not a synchronisation

    async def call(self, account: Account, request: object) -> AccountsReply:
        if not self._connected:
            await self.connect()
            self._connected = True
        shard = self.shards[account.auth.user_id >> 40]
        body = await shard.request(msgspec.msgpack.encode(request))
        reply: AccountsReply = msgspec.msgpack.decode(body, type=AccountsReply)
        self.replies += 1
        return reply

    async def place(
        self, account: Account, market: str, side: str, price: int, lots: int, **extra: Any
    ) -> AccountsReply:
        request = PlaceOrder(
            account.auth, market, side, "limit", price=price, qty=lots * self.LOT[market], **extra
        )
        reply = await self.call(account, request)
        if isinstance(reply, OrderReply) and reply.order.status in ("new", "partially_filled"):
            self.open_orders.append((account, reply.order.order_id))
        return reply

    async def random_op(self, markets: tuple[str, ...] = ("BTC-USDT", "ETH-USDT")) -> None:
        rng = self.rng
        if self.open_orders and rng.random() < 0.25:
            account, order_id = self.open_orders.pop(rng.randrange(len(self.open_orders)))
            await self.call(account, CancelOrder(account.auth, order_id))
            return
        market = rng.choice(markets)
        side = rng.choice(("buy", "sell"))
        offset = rng.randint(-3, 12) * self.TICK
        price = self.MID[market] - offset if side == "buy" else self.MID[market] + offset
        await self.place(rng.choice(self.accounts), market, side, price, rng.randint(1, 20))

    async def cross(self, market: str, pairs: int, concurrency: int = 8) -> None:
        """``pairs`` sells and buys at one price between two users: a trade each, mostly."""
        seller, buyer = self.accounts[0], self.accounts[-1]
        remaining = pairs

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await self.place(seller, market, "sell", self.MID[market], 1)
                await self.place(buyer, market, "buy", self.MID[market], 1)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def run_until(self, stop: asyncio.Event, concurrency: int = 4) -> int:
        """Random operations until ``stop`` is set; how many were done."""
        done = 0

        async def worker() -> None:
            nonlocal done
            while not stop.is_set():
                await self.random_op()
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done

    async def run(self, count: int, concurrency: int = 8, **options: Any) -> None:
        remaining = count

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await self.random_op(**options)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def close(self) -> None:
        for client in self.shards:
            await client.close()
        self.context.destroy(linger=0)


async def wait_status(
    c: Cluster, condition: Callable[[FeedStatus], bool], timeout_s: float = DEADLINE_S
) -> FeedStatus:
    """Poll the feed's status until ``condition`` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = await asyncio.to_thread(feed_query, c, FeedStatusQuery())
        if isinstance(status, FeedStatus) and condition(status):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"feed status never matched: {status}")
        await asyncio.sleep(0.02)  # the poll's pace


async def subscribed_client(
    port: int, markets: tuple[str, ...] = ("BTC-USDT", "ETH-USDT"), *, trades: bool = True
) -> FeedClient:
    """A client subscribed to depth (and trades) of ``markets``, holding every snapshot."""
    client = await FeedClient.open(port)
    for market in markets:
        await client.subscribe("depth", market)
        if trades:
            await client.subscribe("trades", market)
    await client.wait(lambda: all(m in client.depth for m in markets), what="snapshots")
    return client


async def converge(c: Cluster, client: FeedClient, markets: tuple[str, ...]) -> None:
    """Wait until the client's books are exactly the engines' books, seq included."""
    for market in markets:
        reply = await asyncio.to_thread(engine_depth, c, market)
        model: DepthModel | None = None

        def done(market: str = market, reply: DepthReply = reply) -> bool:
            nonlocal model
            model = client.depth.get(market)
            return model is not None and model.matches(reply)

        try:
            await client.wait(done, what=f"{market} book at seq {reply.seq}")
        except TimeoutError as error:
            raise AssertionError(
                f"{market}: client at seq {model.seq if model else None}, engine {reply.seq}"
            ) from error
