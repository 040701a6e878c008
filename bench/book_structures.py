"""Which data structures should hold one side of the book?  Measured, not guessed.

Every variant below is a drop-in replacement for :class:`actors.engine.book.BookSide`
(the engine reads ``top``, calls ``append``/``remove``/``drop_if_empty`` and indexes
``levels``), run inside the real :class:`MatchingEngine` on the same command stream as
``bench/engine.py``.  Each variant must end in the same state as the real engine (same
``state_hash``), so all of them do the same work.

Price index (how the best level is found and kept up to date):

- ``sorted list``: the engine's choice: dict of levels plus a Python list of price keys
  kept sorted with ``bisect.insort``/``del``, best price last, best level cached in
  ``top``.  Changes near the touch sit at the end of the list and move few elements.
- ``list best-first``: the same with the best price first, so that every change near
  the touch moves the whole list.
- ``heap+top``: dict of levels, a lazy min-heap of prices (emptied levels leave stale
  prices, dropped when they surface), best level cached in ``top``, the heap rebuilt
  from the live prices when stale ones outnumber them (bounding its memory).
- ``heap, peek``: the same heap without the cache: every read of the best level peeks
  the heap, skipping stale prices.
- ``SortedDict``: levels in a ``sortedcontainers.SortedDict``; best is ``peekitem(0)``,
  cached in ``top``.

Queue within a level:

- ``dict`` (all of the above): insertion-ordered dict of order id -> order; O(1) removal
  of any order.
- ``deque``: a ``collections.deque`` of orders; a fill pops the head in O(1), a cancel
  deep in the queue is a linear search.  Run with the engine's sorted list.

Timing on a shared machine is noisy, so ``--only NAME`` runs a single variant once: the
difference between ``callgrind`` instruction counts of ``--only NAME`` and ``--only
none`` is a deterministic cost per command (see docs/performance.md).

The variants run in interleaved rounds.  Each row shows throughput in commands per
second of CPU time (the fastest round, the least disturbed by anything else on the
machine, and the median), and the 99th and 99.9th percentile of per-command wall time
(the lowest over the rounds).  The last line printed is one JSON object with the fastest
rounds' throughput.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from heapq import heapify, heappop, heappush
from typing import NamedTuple

from sortedcontainers import SortedDict

from actors.engine.book import BookSide, Level, RestingOrder
from actors.engine.engine import MatchingEngine
from actors.engine.messages import Command, Side
from bench.engine import BASE_SCALE, LOT, TICK, Generator
from bench.stats import percentile


class OwnIndexSide(BookSide):
    """A variant with its own price index: the base class's sorted keys stay unused, so
    listing the levels in order (depth, snapshot) sorts them afresh."""

    __slots__ = ()

    def prices_best_first(self) -> list[int]:
        return sorted(self.levels, reverse=self.side == "buy")

    def levels_best_first(self) -> list[Level]:
        return [self.levels[price] for price in self.prices_best_first()]


class HeapSide(OwnIndexSide):
    """Dict of levels, a lazy min-heap of prices, the best level cached in ``top``; the
    heap is rebuilt when stale prices outnumber live ones (bounding its memory)."""

    __slots__ = ("_heap", "_hsign")

    def __init__(self, side: Side) -> None:
        super().__init__(side)
        self._hsign = -1 if side == "buy" else 1  # the best price has the smallest key
        self._heap: list[int] = []

    def append(self, order: RestingOrder) -> Level:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            key = price * self._hsign
            top = self.top
            if top is None or key < top.price * self._hsign:
                self.top = level
            heappush(self._heap, key)
            if len(self._heap) > 2 * len(self.levels) + 64:
                self._heap = [p * self._hsign for p in self.levels]
                heapify(self._heap)
        level.orders[order.order_id] = order
        level.total += order.remaining
        return level

    def _drop(self, level: Level) -> None:
        del self.levels[level.price]
        if level is self.top:
            self.top = self._peek()

    def _peek(self) -> Level | None:
        heap = self._heap
        levels = self.levels
        sign = self._hsign
        while heap:
            level = levels.get(heap[0] * sign)
            if level is not None:
                return level
            heappop(heap)
        return None


class PeekHeapSide(HeapSide):
    """The heap without the cached ``top``: every read peeks the heap."""

    __slots__ = ()

    @property
    def top(self) -> Level | None:
        return self._peek()

    @top.setter
    def top(self, level: Level | None) -> None:
        pass  # always recomputed

    def _drop(self, level: Level) -> None:
        del self.levels[level.price]


class SortedDictSide(OwnIndexSide):
    __slots__ = ("_sorted",)

    def __init__(self, side: Side) -> None:
        super().__init__(side)
        sign = self._sign
        self._sorted: SortedDict = SortedDict(lambda price: -price * sign)  # best first

    def append(self, order: RestingOrder) -> Level:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = self._sorted[price] = Level(price)
            self.top = self._sorted.peekitem(0)[1]
        level.orders[order.order_id] = order
        level.total += order.remaining
        return level

    def _drop(self, level: Level) -> None:
        del self.levels[level.price]
        del self._sorted[level.price]
        if level is self.top:
            self.top = self._sorted.peekitem(0)[1] if self._sorted else None


class BestFirstListSide(OwnIndexSide):
    """The engine's sorted list, but with the best price first: changes near the touch
    then move the whole list."""

    __slots__ = ("_front",)

    def __init__(self, side: Side) -> None:
        super().__init__(side)
        self._front: list[int] = []  # -price * sign, ascending: best first

    def append(self, order: RestingOrder) -> Level:
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            insort(self._front, -price * self._sign)
            self.top = self.levels[-self._front[0] * self._sign]
        level.orders[order.order_id] = order
        level.total += order.remaining
        return level

    def _drop(self, level: Level) -> None:
        del self.levels[level.price]
        front = self._front
        del front[bisect_left(front, -level.price * self._sign)]
        if level is self.top:
            self.top = self.levels[-front[0] * self._sign] if front else None


class DequeOrders:
    """The subset of dict that the engine uses on ``level.orders``, over a deque."""

    __slots__ = ("queue",)

    def __init__(self) -> None:
        self.queue: deque[RestingOrder] = deque()

    def __setitem__(self, order_id: int, order: RestingOrder) -> None:
        self.queue.append(order)

    def __delitem__(self, order_id: int) -> None:
        queue = self.queue
        if queue[0].order_id == order_id:
            queue.popleft()
            return
        for index, order in enumerate(queue):
            if order.order_id == order_id:
                del queue[index]
                return
        raise KeyError(order_id)

    def __bool__(self) -> bool:
        return bool(self.queue)

    def values(self) -> Iterator[RestingOrder]:
        return iter(self.queue)


class DequeLevel(Level):
    __slots__ = ()

    def __init__(self, price: int) -> None:
        super().__init__(price)
        self.orders = DequeOrders()  # type: ignore[assignment]


class DequeSide(BookSide):
    __slots__ = ()

    def append(self, order: RestingOrder) -> Level:
        """The engine's ``append``, creating deque-backed levels."""
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = DequeLevel(price)
            keys = self._keys
            key = price * self._sign
            insort(keys, key)
            if keys[-1] == key:
                self.top = level
        level.orders[order.order_id] = order
        level.total += order.remaining
        return level


CHOSEN = "sorted list / dict"
VARIANTS: dict[str, type[BookSide]] = {
    CHOSEN: BookSide,
    "list best-first / dict": BestFirstListSide,
    "heap+top / dict": HeapSide,
    "heap, peek / dict": PeekHeapSide,
    "SortedDict / dict": SortedDictSide,
    "sorted list / deque": DequeSide,
}


def engine_with(side_class: type[BookSide]) -> MatchingEngine:
    engine = MatchingEngine("BENCH", TICK, LOT, BASE_SCALE)
    engine.bids = side_class("buy")
    engine.asks = side_class("sell")
    return engine


class Result(NamedTuple):
    ops_per_s: float
    p99_us: float
    p999_us: float


def run(side_class: type[BookSide], commands: list[Command], expected: str) -> Result:
    """One throughput pass (CPU time of this process, so time spent descheduled by other
    load is not counted) and one pass timing every command."""
    engine = engine_with(side_class)
    apply = engine.apply
    start = time.process_time_ns()
    for command in commands:
        apply(command)
    elapsed = time.process_time_ns() - start
    assert engine.state_hash() == expected, f"{side_class.__name__} ended elsewhere"
    engine = engine_with(side_class)
    apply = engine.apply
    clock = time.perf_counter_ns
    spent = [0] * len(commands)
    for i, command in enumerate(commands):
        begin = clock()
        apply(command)
        spent[i] = clock() - begin
    spent.sort()
    return Result(
        len(commands) / (elapsed / 1e9),
        percentile(spent, 0.99) / 1000,
        percentile(spent, 0.999) / 1000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mix", choices=("touch", "exchange-core"), default="touch")
    parser.add_argument("--resting", type=int, default=1_000, help="book size kept")
    parser.add_argument(
        "--only",
        choices=[*VARIANTS, "none"],
        help="apply the stream once with one variant (none: only generate it), for callgrind",
    )
    args = parser.parse_args()

    generator = Generator(args.seed, args.mix, args.resting)
    commands = generator.generate(args.commands)
    expected = generator.engine.state_hash()
    if args.only is not None:
        if args.only != "none":
            engine = engine_with(VARIANTS[args.only])
            for command in commands:
                engine.apply(command)
        return
    results: dict[str, list[Result]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, side_class in VARIANTS.items():
            results[name].append(run(side_class, commands, expected))

    final = generator.engine
    print(
        f"book structures: {args.commands:,} commands, mix {args.mix!r}, seed {args.seed}, "
        f"{args.rounds} interleaved rounds; the book ends with {len(final.orders):,} "
        f"orders on {len(final.bids.levels) + len(final.asks.levels):,} prices"
    )
    best = {name: max(r.ops_per_s for r in runs) for name, runs in results.items()}
    print(
        f"  {'price index / level queue':<24} {'best cmd/s':>11} {'median':>11}"
        f" {'vs chosen':>9} {'p99 us':>7} {'p99.9 us':>8}"
    )
    for name, runs in results.items():
        median = statistics.median(r.ops_per_s for r in runs)
        p99 = min(r.p99_us for r in runs)
        p999 = min(r.p999_us for r in runs)
        print(
            f"  {name:<24} {best[name]:11,.0f} {median:11,.0f}"
            f" {best[name] / best[CHOSEN]:9.2f} {p99:7.2f} {p999:8.2f}"
        )
    print(json.dumps({"bench": "book_structures", **{k: round(v) for k, v in best.items()}}))


if __name__ == "__main__":
    main()
