"""Throughput and latency of one market's MatchingEngine, in process, on one core.

The command mix follows the shape of exchange-core's published benchmark: one order
book, 1,000 users, about 1,000 resting orders spread over a few hundred prices, and a
stream dominated by passive limit orders and cancels near the touch, with some
aggressive orders that trade and some amends.  ``--mix exchange-core`` uses that
benchmark's own proportions instead (9% GTC, 3% IOC, 6% cancel, 82% move).
``--mix conditional`` makes 20% of the commands conditional orders (stops and
take-profits, limit and market, their stops a few ticks from the last trade price so
that many trigger) and the rest the touch mix; it is measured in passes alternating with
the plain touch mix of the same seed, and reports both and their ratio.

The stream is generated first against a separate engine (so that cancels and amends
name live orders), then replayed on fresh engines: once timing the whole loop
(throughput) and once timing every command with ``perf_counter_ns`` (latency).  Both
replays see exactly the same commands and book states, because the engine is
deterministic.

The last line printed is one JSON object, for scripts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence

from actors.engine.engine import MatchingEngine
from actors.engine.messages import (
    Amend,
    Cancel,
    Command,
    ConditionalType,
    Done,
    Event,
    Place,
    SelfTradePrevention,
    Side,
    TimeInForce,
    Triggered,
)
from bench.stats import percentile, percentiles

# A BTC-USDT-like market: USDT has 6 decimals, BTC 8; tick 0.01 USDT, lot 0.0001 BTC.
TICK = 10_000
LOT = 10_000
BASE_SCALE = 100_000_000
START_PRICE = 30_000 * 1_000_000
USERS = 1_000
TARGET_RESTING = 1_000
CONDITIONAL_SHARE = 0.2
CONDITIONAL: tuple[ConditionalType, ...] = (
    "stop_limit",
    "stop_market",
    "take_profit_limit",
    "take_profit_market",
)


class LiveOrders:
    """The resting orders the generator knows about, with O(1) random pick and removal."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.where: dict[int, int] = {}
        self.user: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, order_id: int, user_id: int) -> None:
        self.where[order_id] = len(self.ids)
        self.ids.append(order_id)
        self.user[order_id] = user_id

    def discard(self, order_id: int) -> None:
        index = self.where.pop(order_id, None)
        if index is None:
            return
        last = self.ids.pop()
        if last != order_id:
            self.ids[index] = last
            self.where[last] = index
        del self.user[order_id]

    def pick(self, rng: random.Random) -> tuple[int, int]:
        order_id = self.ids[rng.randrange(len(self.ids))]
        return order_id, self.user[order_id]


class Generator:
    def __init__(self, seed: int, mix: str, resting: int = TARGET_RESTING) -> None:
        self.rng = random.Random(seed)
        self.mix = mix
        self.resting = resting
        self.engine = MatchingEngine("BENCH", TICK, LOT, BASE_SCALE)
        self.live = LiveOrders()
        self.next_id = 1
        self.kinds: Counter[str] = Counter()
        self.triggered = 0

    def mid(self) -> int:
        bid, ask = self.engine.best_bid(), self.engine.best_ask()
        if bid is not None and ask is not None:
            return (bid + ask) // 2 // TICK * TICK
        if bid is not None:
            return bid + TICK
        if ask is not None:
            return ask - TICK
        return START_PRICE

    def passive_price(self, side: Side) -> int:
        """A price on ``side``'s own half of the book: half within ~200 ticks of the
        middle, which spreads ~1,000 orders over ~700 prices as in exchange-core's run."""
        away = 1 + min(int(self.rng.expovariate(1 / 300)), 3_000)
        mid = self.mid()
        return mid - away * TICK if side == "buy" else mid + away * TICK

    def qty(self) -> int:
        return LOT * self.rng.choice((1, 1, 2, 3, 5, 10, 20, 50))

    def place(
        self,
        side: Side,
        price: int,
        tif: TimeInForce = "GTC",
        order_type: str = "limit",
        stp: SelfTradePrevention = "expire_taker",
    ) -> Place:
        order_id = self.next_id
        self.next_id += 1
        user = self.rng.randrange(1, USERS + 1)
        if order_type == "market":
            return Place(order_id, user, side, "market", 0, self.qty(), stp=stp)
        return Place(order_id, user, side, "limit", price, self.qty(), time_in_force=tif, stp=stp)

    def aggressive_price(self, side: Side) -> int:
        """A limit that reaches a few ticks into the other side."""
        reach = self.rng.randint(0, 5) * TICK
        if side == "buy":
            ask = self.engine.best_ask()
            return (ask if ask is not None else self.mid()) + reach
        bid = self.engine.best_bid()
        return max(TICK, (bid if bid is not None else self.mid()) - reach)

    def next(self) -> Command:
        if self.mix == "exchange-core":
            return self._next_exchange_core()
        if self.mix == "conditional" and self.rng.random() < CONDITIONAL_SHARE:
            return self._next_conditional()
        return self._next_touch()

    def _next_conditional(self) -> Place:
        """A stop or take-profit a few ticks (mostly) from the last trade price, on the
        side where it waits; its limit a few ticks past its stop, so it trades."""
        rng = self.rng
        kind = rng.choice(CONDITIONAL)
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        self.kinds[kind] += 1
        last = self.engine.last_price or self.mid()
        rises = (kind.startswith("stop")) == (side == "buy")
        away = (1 + min(int(rng.expovariate(1 / 300)), 3_000)) * TICK
        stop = last + away if rises else max(TICK, last - away)
        reach = rng.randint(0, 5) * TICK
        price = 0
        if kind.endswith("_limit"):
            price = stop + reach if side == "buy" else max(TICK, stop - reach)
        order_id = self.next_id
        self.next_id += 1
        user = rng.randrange(1, USERS + 1)
        return Place(order_id, user, side, kind, price, self.qty(), stop_price=stop)

    def _next_touch(self) -> Command:
        rng = self.rng
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        roll = rng.random()
        # Keep the book near its target size: lean to places when short, cancels when long.
        lean = (len(self.live) - self.resting) / self.resting * 0.2
        if not self.live or roll < 0.46 - lean:
            self.kinds["place passive"] += 1
            return self.place(side, self.passive_price(side))
        if roll < 0.86:
            self.kinds["cancel"] += 1
            order_id, user = self.live.pick(rng)
            return Cancel(order_id, user)
        if roll < 0.90:
            self.kinds["amend"] += 1
            order_id, user = self.live.pick(rng)
            if rng.random() < 0.5:
                return Amend(order_id, user, qty=LOT)
            return Amend(order_id, user, price=self.passive_price(self._side_of(order_id)))
        if roll < 0.95:
            self.kinds["ioc crossing"] += 1
            return self.place(side, self.aggressive_price(side), tif="IOC")
        if roll < 0.98:
            self.kinds["gtc crossing"] += 1
            return self.place(side, self.aggressive_price(side))
        self.kinds["market"] += 1
        return self.place(side, 0, order_type="market", stp="expire_maker")

    def _next_exchange_core(self) -> Command:
        rng = self.rng
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        roll = rng.random()
        # Hold the book near its target size by swapping places and cancels, leaving the
        # published proportions otherwise intact.
        short = len(self.live) < self.resting
        if not self.live or roll < 0.09 or (short and 0.12 <= roll < 0.18):
            self.kinds["place passive"] += 1
            return self.place(side, self.passive_price(side))
        if roll < 0.12:
            self.kinds["ioc crossing"] += 1
            return self.place(side, self.aggressive_price(side), tif="IOC")
        if roll < 0.18:
            self.kinds["cancel"] += 1
            order_id, user = self.live.pick(rng)
            return Cancel(order_id, user)
        self.kinds["move"] += 1
        order_id, user = self.live.pick(rng)
        own_side = self._side_of(order_id)
        # A move usually stays passive; now and then it reaches across and trades.
        if rng.random() < 0.03:
            return Amend(order_id, user, price=self.aggressive_price(own_side))
        return Amend(order_id, user, price=self.passive_price(own_side))

    def _side_of(self, order_id: int) -> Side:
        resting = self.engine.orders.get(order_id)
        if resting is not None:
            return resting.side
        return self.engine.stops.orders[order_id].side

    def observe(self, command: Command, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, Done):
                self.live.discard(event.order_id)
            elif isinstance(event, Triggered):
                self.triggered += 1
        if isinstance(command, Place) and (
            command.order_id in self.engine.orders or command.order_id in self.engine.stops.orders
        ):
            self.live.add(command.order_id, command.user_id)

    def generate(self, n: int) -> list[Command]:
        commands: list[Command] = []
        for _ in range(n):
            command = self.next()
            self.observe(command, self.engine.apply(command))
            commands.append(command)
        return commands


def new_engine() -> MatchingEngine:
    return MatchingEngine("BENCH", TICK, LOT, BASE_SCALE)


def throughput(commands: list[Command], warmup: int) -> tuple[float, float]:
    """Commands per second of wall time, and per second of this process's CPU time (which
    leaves out time spent descheduled by other load on the machine)."""
    engine = new_engine()
    apply = engine.apply
    for command in commands[:warmup]:
        apply(command)
    measured = commands[warmup:]
    cpu = time.process_time_ns()
    start = time.perf_counter_ns()
    for command in measured:
        apply(command)
    elapsed = time.perf_counter_ns() - start
    cpu = time.process_time_ns() - cpu
    return len(measured) / (elapsed / 1e9), len(measured) / (cpu / 1e9)


def latencies(commands: list[Command], warmup: int) -> list[int]:
    engine = new_engine()
    apply = engine.apply
    clock = time.perf_counter_ns
    for command in commands[:warmup]:
        apply(command)
    out = [0] * (len(commands) - warmup)
    for i, command in enumerate(commands[warmup:]):
        start = clock()
        apply(command)
        out[i] = clock() - start
    return out


def timer_overhead_ns() -> int:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(100_000):
        start = clock()
        samples.append(clock() - start)
    samples.sort()
    return samples[len(samples) // 2]


def kind_of(command: Command) -> str:
    if isinstance(command, Place):
        if command.type == "limit":
            return f"limit {command.time_in_force}"
        return command.type
    return type(command).__name__.lower()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=1_000_000, help="measured commands")
    parser.add_argument("--warmup", type=int, default=200_000, help="unmeasured commands first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="throughput passes (median)")
    parser.add_argument("--mix", choices=("touch", "exchange-core", "conditional"), default="touch")
    parser.add_argument("--resting", type=int, default=TARGET_RESTING, help="book size kept")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    parser.add_argument("--no-gc", action="store_true", help="freeze and disable the collector")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    started = time.perf_counter()
    generator = Generator(args.seed, args.mix, args.resting)
    commands = generator.generate(args.warmup + args.commands)
    final = generator.engine
    # The conditional mix is compared with the plain one in alternating passes.
    plain_commands = None
    if args.mix == "conditional":
        plain_commands = Generator(args.seed, "touch", args.resting).generate(
            args.warmup + args.commands
        )
    generated_in = time.perf_counter() - started
    if args.no_gc:
        gc.collect()
        gc.freeze()
        gc.disable()

    load_before = os.getloadavg()[0]
    passes = []
    plain_passes = []
    for _ in range(args.repeat):
        if plain_commands is not None:
            plain_passes.append(throughput(plain_commands, args.warmup))
        passes.append(throughput(commands, args.warmup))
    runs = [wall for wall, _ in passes]
    ops = statistics.median(runs)
    ops_cpu = statistics.median(cpu for _, cpu in passes)
    lat = latencies(commands, args.warmup)
    by_kind: dict[str, list[int]] = {}
    for command, took in zip(commands[args.warmup :], lat, strict=True):
        by_kind.setdefault(kind_of(command), []).append(took)
    lat.sort()
    p50, p99, p999 = (percentile(lat, q) / 1000 for q in (0.5, 0.99, 0.999))

    total = sum(generator.kinds.values())
    print(f"engine bench: {args.commands:,} measured commands after {args.warmup:,} warm-up")
    print(f"  python {platform.python_version()} on {platform.machine()}, cpus {os.cpu_count()}")
    print(f"  mix {args.mix!r}, seed {args.seed}, generated in {generated_in:.1f} s:")
    for kind, count in generator.kinds.most_common():
        print(f"    {kind:<15} {count / total:6.1%}")
    print(
        f"  final book: {len(final.orders):,} resting orders on "
        f"{len(final.bids.levels) + len(final.asks.levels):,} prices, "
        f"{len(final.stops):,} untriggered, {final.trade_id:,} trades, "
        f"{generator.triggered:,} triggered, gc {'off' if args.no_gc else 'on'}"
    )
    shown = ", ".join(f"{run:,.0f}" for run in runs)
    print(f"  throughput   {ops:12,.0f} commands/s (median of {len(runs)}: {shown})")
    print(f"  throughput   {ops_cpu:12,.0f} commands per CPU second (median)")
    result: dict[str, object] = {}
    if plain_passes:
        plain_ops = statistics.median(wall for wall, _ in plain_passes)
        plain_cpu = statistics.median(cpu for _, cpu in plain_passes)
        shown = ", ".join(f"{wall:,.0f}" for wall, _ in plain_passes)
        print(f"  plain touch mix in alternating passes: {plain_ops:,.0f} commands/s ({shown})")
        print(f"  plain touch mix {plain_cpu:12,.0f} commands per CPU second (median)")
        ratio = ops_cpu / plain_cpu
        print(f"  conditional / plain, per CPU second: {ratio:.1%}")
        result = {"plain_ops_per_s": round(plain_ops), "ratio_cpu": round(ratio, 3)}
    print(f"  latency p50  {p50:8.2f} us")
    print(f"  latency p99  {p99:8.2f} us")
    print(f"  latency p999 {p999:8.2f} us")
    print(f"  latency max  {lat[-1] / 1000:8.2f} us (timer overhead {timer_overhead_ns()} ns)")
    print(f"  load average {load_before:.2f} before the passes, {os.getloadavg()[0]:.2f} after")
    print(f"  {'by command':<15} {'share':>6} {'p50 us':>7} {'p99 us':>7} {'p99.9 us':>8}")
    for kind, spent in sorted(by_kind.items(), key=lambda item: -len(item[1])):
        k50, k99, k999 = (q / 1000 for q in percentiles(spent, 0.5, 0.99, 0.999))
        print(f"    {kind:<13} {len(spent) / len(lat):6.1%} {k50:7.2f} {k99:7.2f} {k999:8.2f}")
    result = {
        "bench": "engine",
        "mix": args.mix,
        "ops_per_s": round(ops),
        "p50_us": round(p50, 2),
        "p99_us": round(p99, 2),
        "p999_us": round(p999, 2),
        **result,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
