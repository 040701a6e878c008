"""The matching engine of one market: a pure state machine, commands in, events out.

Invariants (checked by tests/engine after every command of long random streams):
- Price-time priority: a taker meets the best opposite price first and, within a price,
  the oldest order first; the trade price is always the resting order's price.
- After any command the book is not crossed: best bid < best ask.
- No order trades past its quantity; each trade takes the same quantity from a buyer and
  a seller.  A buy sized in quote never spends more than its ``quote_qty``.
- Sequence numbers: ``seq`` grows by one for each public event (Trade, LevelChanged);
  ``trade_id`` by one for each trade.  Nothing here reads a clock, draws a random number
  or touches I/O: the same commands give the same events and the same state hash.
- Every command gets an answer: a placed order gets Accepted (then trades, and Done or a
  resting LevelChanged) or Rejected; a cancel gets Done or Rejected.
- A halted market refuses new orders and any amend that would re-queue (it could trade);
  cancels, cancel-all and amends that only reduce a quantity still work.

Event order for one command: Accepted, or Amended followed by the LevelChanged that takes
the order out of its old level; then level by level in priority order, for each maker met
its Trade (or its Done "expired" when self-trade prevention removes it) and its Done
"filled" once empty, then that level's LevelChanged; last the taker's own Done or its
resting LevelChanged.  A buy sized in quote ends with Done "filled" when it spent some of
its budget and what is left cannot pay for another lot, else Done "expired"; its
``remaining`` is 0 either way.
"""

from __future__ import annotations

import hashlib

import msgspec

from actors.engine.book import BookSide, Level, RestingOrder
from actors.engine.messages import (
    AMEND_BELOW_FILLED,
    DUPLICATE_ORDER_ID,
    INVALID_ORDER,
    MARKET_HALTED,
    POST_ONLY_WOULD_TAKE,
    UNKNOWN_ORDER,
    Accepted,
    Amend,
    Amended,
    Cancel,
    CancelAll,
    Command,
    Done,
    DoneStatus,
    Event,
    Halt,
    LevelChanged,
    Place,
    Rejected,
    Resume,
    SelfTradePrevention,
    Side,
    Trade,
)

_NO_LIMIT_BUY = 2**63  # a market buy without a worst price accepts any price


class SnapshotOrder(msgspec.Struct, frozen=True, gc=False, array_like=True):
    order_id: int
    user_id: int
    side: Side
    price: int
    qty: int
    remaining: int
    post_only: bool
    stp: SelfTradePrevention


class EngineSnapshot(msgspec.Struct, frozen=True, gc=False):
    """The whole state; orders listed bids then asks, best price first, oldest first."""

    market: str
    seq: int
    trade_id: int
    halted: bool
    orders: list[SnapshotOrder]


_snapshot_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(EngineSnapshot)


class MatchingEngine:
    def __init__(self, market: str, tick: int, lot: int, base_scale: int) -> None:
        self.market = market
        self.tick = tick
        self.lot = lot
        self.base_scale = base_scale
        self.bids = BookSide("buy")
        self.asks = BookSide("sell")
        self.orders: dict[int, RestingOrder] = {}
        self.seq = 0
        self.trade_id = 0
        self.halted = False

    # --- commands -----------------------------------------------------------------------

    def apply(self, command: Command) -> list[Event]:
        # Exact type tests, most frequent first: much cheaper than class patterns.
        if type(command) is Place:
            return self._place(command)
        if type(command) is Cancel:
            return self._cancel(command)
        if type(command) is Amend:
            return self._amend(command)
        if type(command) is CancelAll:
            return self._cancel_all(command)
        if type(command) is Halt:
            self.halted = True
            return []
        if type(command) is Resume:
            self.halted = False
            return []
        raise TypeError(f"not an engine command: {command!r}")

    def _place(self, cmd: Place) -> list[Event]:
        order_id = cmd.order_id
        user_id = cmd.user_id
        if self.halted:
            return [Rejected(order_id, user_id, MARKET_HALTED)]
        if order_id in self.orders:
            return [Rejected(order_id, user_id, DUPLICATE_ORDER_ID)]
        price = cmd.price
        qty = cmd.qty
        is_limit = cmd.type == "limit"
        if is_limit:
            invalid = (
                price <= 0
                or price % self.tick != 0
                or qty <= 0
                or qty % self.lot != 0
                or cmd.quote_qty != 0
                or (cmd.post_only and cmd.time_in_force != "GTC")
            )
        else:
            invalid = self._invalid_market(cmd)
        if invalid:
            return [Rejected(order_id, user_id, INVALID_ORDER)]
        side = cmd.side
        is_buy = side == "buy"
        if is_limit:
            limit = price
        elif is_buy:
            limit = price or _NO_LIMIT_BUY
        else:
            limit = 0
        top = (self.asks if is_buy else self.bids).top
        if top is None or (top.price > limit if is_buy else top.price < limit):
            if is_limit and cmd.time_in_force == "GTC":
                # The common case: a passive order rests at once.
                order = RestingOrder(
                    order_id, user_id, side, price, qty, qty, cmd.post_only, cmd.stp
                )
                self.orders[order_id] = order
                level = (self.bids if is_buy else self.asks).append(order)
                self.seq += 1
                return [
                    Accepted(order_id, user_id),
                    LevelChanged(self.seq, side, price, level.total),
                ]
            return [Accepted(order_id, user_id), Done(order_id, user_id, "expired", qty)]
        if cmd.post_only:
            return [Rejected(order_id, user_id, POST_ONLY_WOULD_TAKE)]
        events: list[Event] = [Accepted(order_id, user_id)]
        if cmd.time_in_force == "FOK" and not self._can_fill(cmd, limit):
            events.append(Done(order_id, user_id, "expired", cmd.qty))
            return events
        order = RestingOrder(
            order_id, user_id, side, price, cmd.qty, cmd.qty, cmd.post_only, cmd.stp
        )
        rests = is_limit and cmd.time_in_force == "GTC"
        self._take(order, limit, cmd.quote_qty, rests, events)
        return events

    def _invalid_market(self, cmd: Place) -> bool:
        price = cmd.price
        if price < 0 or price % self.tick != 0 or cmd.post_only:
            return True
        quote_qty = cmd.quote_qty
        if quote_qty != 0:
            # A buy sized in quote: nothing else sizes it or bounds its price.
            return (
                quote_qty < 0
                or cmd.qty != 0
                or cmd.side != "buy"
                or price != 0
                or cmd.time_in_force == "FOK"
            )
        return cmd.qty <= 0 or cmd.qty % self.lot != 0

    def _cancel(self, cmd: Cancel) -> list[Event]:
        order = self.orders.get(cmd.order_id)
        if order is None or order.user_id != cmd.user_id:
            return [Rejected(cmd.order_id, cmd.user_id, UNKNOWN_ORDER)]
        del self.orders[order.order_id]
        side = order.side
        level = (self.bids if side == "buy" else self.asks).remove(order)
        self.seq = seq = self.seq + 1
        return [
            Done(order.order_id, order.user_id, "cancelled", order.remaining),
            LevelChanged(seq, side, level.price, level.total),
        ]

    def _cancel_all(self, cmd: CancelAll) -> list[Event]:
        user_id = cmd.user_id
        mine = sorted(o.order_id for o in self.orders.values() if o.user_id == user_id)
        events: list[Event] = []
        for order_id in mine:
            events += self._cancel(Cancel(order_id, user_id))
        return events

    def _amend(self, cmd: Amend) -> list[Event]:
        order_id = cmd.order_id
        user_id = cmd.user_id
        order = self.orders.get(order_id)
        if order is None or order.user_id != user_id:
            return [Rejected(order_id, user_id, UNKNOWN_ORDER)]
        old_qty = order.qty
        old_price = order.price
        new_qty = cmd.qty or old_qty
        new_price = cmd.price or old_price
        if new_qty < 0 or new_qty % self.lot or new_price < 0 or new_price % self.tick:
            return [Rejected(order_id, user_id, INVALID_ORDER)]
        filled = old_qty - order.remaining
        if new_qty <= filled:
            return [Rejected(order_id, user_id, AMEND_BELOW_FILLED)]
        side = order.side
        is_buy = side == "buy"
        own = self.bids if is_buy else self.asks
        remaining = new_qty - filled
        if new_price == old_price and new_qty <= old_qty:
            # Less to trade at the same price: the order keeps its place in the queue.
            order.qty = new_qty
            order.remaining = remaining
            events: list[Event] = [Amended(order_id, user_id, new_price, new_qty, remaining)]
            if new_qty != old_qty:
                level = own.levels[old_price]
                level.total -= old_qty - new_qty
                self.seq += 1
                events.append(LevelChanged(self.seq, side, old_price, level.total))
            return events
        # Anything else re-queues the order as a new taker, which a halted market refuses:
        # it could trade.
        if self.halted:
            return [Rejected(order_id, user_id, MARKET_HALTED)]
        top = (self.asks if is_buy else self.bids).top
        crosses = top is not None and (top.price <= new_price if is_buy else top.price >= new_price)
        if crosses and order.post_only:
            return [Rejected(order_id, user_id, POST_ONLY_WOULD_TAKE)]
        level = own.remove(order)
        self.seq = seq = self.seq + 1
        events = [
            Amended(order_id, user_id, new_price, new_qty, remaining),
            LevelChanged(seq, side, old_price, level.total),
        ]
        order.price = new_price
        order.qty = new_qty
        order.remaining = remaining
        if crosses:
            del self.orders[order_id]
            self._take(order, new_price, 0, True, events)
        else:
            # The common move: it rests at once at its new price, behind that level.
            level = own.append(order)
            self.seq = seq + 1
            events.append(LevelChanged(seq + 1, side, new_price, level.total))
        return events

    # --- matching -----------------------------------------------------------------------

    def _take(
        self, taker: RestingOrder, limit: int, budget: int, rests: bool, events: list[Event]
    ) -> None:
        """Match ``taker`` against the opposite side, then rest or finish it.

        ``budget`` > 0 makes a market buy by quote amount: it takes whole lots while the
        quote it has left pays for them.
        """
        is_buy = taker.side == "buy"
        opposite = self.asks if is_buy else self.bids
        by_quote = budget > 0
        start_budget = budget
        stopped_by_stp = out_of_budget = False
        while taker.remaining > 0 or by_quote:
            level = opposite.top
            if level is None:
                break
            price = level.price
            if price > limit if is_buy else price < limit:
                break
            if by_quote:
                affordable = budget * self.base_scale // price // self.lot * self.lot
                if affordable == 0:
                    out_of_budget = True
                    break
                taker.remaining = affordable
            before = taker.remaining
            stopped_by_stp = self._match_level(taker, level, opposite, events)
            if by_quote:
                budget -= price * (before - taker.remaining) // self.base_scale
                taker.remaining = 0
            if stopped_by_stp:
                break
        if by_quote:
            # Spent some and could not pay for another lot: that is a complete fill.
            ran_out = out_of_budget or budget == 0
            status: DoneStatus = "filled" if ran_out and budget < start_budget else "expired"
            events.append(Done(taker.order_id, taker.user_id, status, 0))
        elif taker.remaining == 0:
            events.append(Done(taker.order_id, taker.user_id, "filled", 0))
        elif rests and not stopped_by_stp:
            self.orders[taker.order_id] = taker
            level = (self.bids if is_buy else self.asks).append(taker)
            self.seq += 1
            events.append(LevelChanged(self.seq, taker.side, level.price, level.total))
        else:
            events.append(Done(taker.order_id, taker.user_id, "expired", taker.remaining))

    def _match_level(
        self, taker: RestingOrder, level: Level, opposite: BookSide, events: list[Event]
    ) -> bool:
        """Fill ``taker`` from one level in time priority; True if self-trade prevention
        stopped the taker."""
        gone: list[RestingOrder] = []
        stopped = False
        want = taker.remaining
        price = level.price
        taker_side = taker.side
        taker_id = taker.order_id
        taker_user = taker.user_id
        seq = self.seq
        trade_id = self.trade_id
        expired = 0
        for maker in level.orders.values():
            if maker.user_id == taker_user:
                stp = taker.stp
                if stp != "expire_taker":
                    gone.append(maker)
                    expired += maker.remaining
                    events.append(Done(maker.order_id, maker.user_id, "expired", maker.remaining))
                if stp != "expire_maker":
                    stopped = True
                    break
                continue
            qty = want if want < maker.remaining else maker.remaining
            maker.remaining -= qty
            want -= qty
            seq += 1
            trade_id += 1
            events.append(
                Trade(
                    seq,
                    trade_id,
                    price,
                    qty,
                    taker_side,
                    maker.order_id,
                    maker.user_id,
                    taker_id,
                    taker_user,
                )
            )
            if maker.remaining == 0:
                gone.append(maker)
                events.append(Done(maker.order_id, maker.user_id, "filled", 0))
            if want == 0:
                break
        self.trade_id = trade_id
        if not gone and want == taker.remaining:
            return stopped
        orders = level.orders
        index = self.orders
        for maker in gone:
            del orders[maker.order_id]
            del index[maker.order_id]
        level.total -= taker.remaining - want + expired
        taker.remaining = want
        opposite.drop_if_empty(level)
        self.seq = seq + 1
        events.append(LevelChanged(self.seq, opposite.side, price, level.total))
        return stopped

    def _can_fill(self, cmd: Place, limit: int) -> bool:
        """Whether a FOK order would fill completely, honouring self-trade prevention."""
        is_buy = cmd.side == "buy"
        opposite = self.asks if is_buy else self.bids
        reachable = [p for p in opposite.levels if (p <= limit if is_buy else p >= limit)]
        reachable.sort(reverse=not is_buy)
        need = cmd.qty
        for price in reachable:
            for maker in opposite.levels[price].orders.values():
                if maker.user_id == cmd.user_id:
                    if cmd.stp == "expire_maker":
                        continue
                    return False
                need -= maker.remaining
                if need <= 0:
                    return True
        return False

    # --- queries ------------------------------------------------------------------------

    def depth(self, limit: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``limit`` levels as (price, total): bids high to low, asks low to high."""
        return (
            [(p, self.bids.levels[p].total) for p in self.bids.prices_best_first()[:limit]],
            [(p, self.asks.levels[p].total) for p in self.asks.prices_best_first()[:limit]],
        )

    def best_bid(self) -> int | None:
        level = self.bids.best()
        return None if level is None else level.price

    def best_ask(self) -> int | None:
        level = self.asks.best()
        return None if level is None else level.price

    # --- snapshot -----------------------------------------------------------------------

    def snapshot(self) -> EngineSnapshot:
        orders = [
            SnapshotOrder(
                o.order_id, o.user_id, o.side, o.price, o.qty, o.remaining, o.post_only, o.stp
            )
            for side in (self.bids, self.asks)
            for level in side.levels_best_first()
            for o in level.orders.values()
        ]
        return EngineSnapshot(self.market, self.seq, self.trade_id, self.halted, orders)

    def snapshot_bytes(self) -> bytes:
        return _snapshot_encoder.encode(self.snapshot())

    def state_hash(self) -> str:
        return hashlib.sha256(self.snapshot_bytes()).hexdigest()

    @classmethod
    def restore(
        cls, data: bytes | EngineSnapshot, tick: int, lot: int, base_scale: int
    ) -> MatchingEngine:
        snap = data if isinstance(data, EngineSnapshot) else _snapshot_decoder.decode(data)
        engine = cls(snap.market, tick, lot, base_scale)
        engine.seq = snap.seq
        engine.trade_id = snap.trade_id
        engine.halted = snap.halted
        for o in snap.orders:
            order = RestingOrder(
                o.order_id, o.user_id, o.side, o.price, o.qty, o.remaining, o.post_only, o.stp
            )
            engine.orders[o.order_id] = order
            (engine.bids if o.side == "buy" else engine.asks).append(order)
        return engine
