"""What a shard holds after many orders: its resident memory and its snapshot's size.

What it measures: one accounts shard process (with one engine, BTC-USDT) after
``--orders`` orders (default 1,000,000) from ``--users`` users (default 10,000): its
RSS (``VmRSS``, and ``VmHWM``, the most it ever held), and once it has stopped cleanly
(it writes a snapshot then) the size of that snapshot, and of any other file in its data
folder (the history store).

How:
- ``harness.cluster`` starts the engine and the shard as real processes (journals with
  ``fsync = "none"``: what is measured is memory, not the disk).
- The load speaks to the shard as the gateway does (its CURVE key, ``PlaceOrder``
  messages), ``--in-flight`` requests at a time, so that a million orders take minutes
  rather than hours: every user is made and funded, then each places orders in turn.
  Nine in ten are IOC buys far below the market (they expire at once); one in ten buys
  from a market maker's resting sell (a fill).  Every order carries a
  ``client_order_id``, the case that costs deduplication the most.  So nearly every
  order ends closed, as most orders do.
- The measured code is whatever the working directory holds: run it from a checkout of
  another revision (``git archive main | tar -x -C /tmp/main``, then ``cd /tmp/main &&
  python /path/to/this/bench/shard_memory.py``) to compare with it.  It uses only
  messages every revision has (sign-up, deposit, place, status).

The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from actors.accounts.protocol import (
    AccountsReply,
    Auth,
    CreateUser,
    Deposit,
    ErrorReply,
    GetStatus,
    OrderReply,
    PlaceOrder,
    UserCreated,
)
from bourse.peers import GATEWAY
from harness.cluster import Cluster, cluster
from transport.client import DealerClient, Unavailable

MARKET = "BTC-USDT"
USDT = 1_000_000
BTC = 100_000_000
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(AccountsReply).decode


def status_of(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


async def load(running: Cluster, args: argparse.Namespace) -> float:
    shard = running.config.shards[0]
    client = DealerClient(
        running.context, shard.routers, shard.name, 60.0, running.security(GATEWAY)
    )
    try:
        return await _load(client, args)
    finally:
        await client.close()


async def _load(client: DealerClient, args: argparse.Namespace) -> float:
    limit = asyncio.Semaphore(args.in_flight)

    async def ask(request: object) -> AccountsReply:
        async with limit:
            return _decode(await client.request(_encode(request)))

    deadline = time.monotonic() + 20
    while True:  # until the DEALER's connection is up (it queues nothing before)
        try:
            await ask(GetStatus())
            break
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)

    async def user(number: int, funds: dict[str, int]) -> Auth:
        key_hash = hashlib.sha256(f"bench-{number}".encode()).digest()
        made = await ask(CreateUser(key_hash))
        assert isinstance(made, UserCreated), made
        auth = Auth(made.user_id, key_hash)
        for asset, amount in funds.items():
            reply = await ask(Deposit(auth, asset, amount))
            assert not isinstance(reply, ErrorReply), reply
        return auth

    maker = await user(0, {"BTC": 1_000_000 * BTC})
    fills = args.orders // 10
    resting = [
        ask(PlaceOrder(maker, MARKET, "sell", "limit", price=30_000 * USDT, qty=100_000))
        for _ in range(fills)
    ]
    for reply in await asyncio.gather(*resting):
        assert isinstance(reply, OrderReply), reply
    users = await asyncio.gather(
        *(user(number, {"USDT": 10_000_000 * USDT}) for number in range(1, args.users + 1))
    )
    errors = 0
    started = time.perf_counter()

    async def place(number: int) -> None:
        nonlocal errors
        auth = users[number % len(users)]
        crossing = number % 10 == 0
        order = PlaceOrder(
            auth,
            MARKET,
            "buy",
            "limit",
            price=(30_000 if crossing else 1_000) * USDT,
            qty=100_000,
            time_in_force="IOC",
            client_order_id=f"o{number}",
        )
        reply = await ask(order)
        if not isinstance(reply, OrderReply):
            errors += 1

    batch = 20_000
    for first in range(0, args.orders, batch):
        await asyncio.gather(*(place(n) for n in range(first, min(first + batch, args.orders))))
        done = min(first + batch, args.orders)
        rate = done / (time.perf_counter() - started)
        print(f"  {done:>9} orders placed, {rate:,.0f}/s", file=sys.stderr, flush=True)
    if errors:
        raise RuntimeError(f"{errors} orders were refused")
    return time.perf_counter() - started


def settled(running: Cluster) -> dict[str, int]:
    client = running.shard_client(0)
    try:
        status = client.call(GetStatus(), AccountsReply, 5.0)
    finally:
        client.close()
    return {"users": status.users, "open_orders": status.open_orders}


def run(args: argparse.Namespace) -> dict[str, object]:
    with (
        tempfile.TemporaryDirectory() as folder,
        cluster(Path(folder), markets=(MARKET,), shards=1, fsync="none") as running,
    ):
        running.start_actors()
        seconds = asyncio.run(load(running, args))
        name = running.config.shards[0].instances[0].name
        pid = running.processes[f"accounts-{0}"].pid
        deadline = time.monotonic() + 60
        while settled(running)["open_orders"] != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        memory = status_of(pid)
        state = settled(running)
        running.stop(f"accounts-{0}", signal.SIGTERM, timeout_s=600)
        data = running.data_dir / name
        snapshots = sorted(data.glob("snapshot-*.bin"))
        others = {
            path.name: path.stat().st_size
            for path in data.iterdir()
            if path.is_file() and not path.name.startswith(("snapshot-", "journal-"))
        }
        return {
            "bench": "shard_memory",
            "revision": os.getcwd(),
            "orders": args.orders,
            "users": args.users,
            "load_s": round(seconds, 1),
            "rss_mb": round(memory["VmRSS"] / 2**20, 1),
            "peak_rss_mb": round(memory["VmHWM"] / 2**20, 1),
            "snapshot_mb": round(snapshots[-1].stat().st_size / 2**20, 2) if snapshots else 0,
            "other_files_mb": {k: round(v / 2**20, 2) for k, v in sorted(others.items())},
            **state,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=2_000)
    args = parser.parse_args(argv)
    result = run(args)
    for key, value in result.items():
        print(f"{key:>16}: {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
