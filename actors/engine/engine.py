"""The matching engine of one market: a pure state machine, commands in, events out.

Invariants (checked by tests/engine after every command of long random streams):
- Price-time priority: a taker meets the best opposite price first and, within a price,
  the oldest order first; the trade price is always the resting order's price.
- After any command the book is not crossed: best bid < best ask.
- No order trades past its quantity; each trade takes the same quantity from a buyer and
  a seller.
- Sequence numbers: ``seq`` grows by one for each public event (Trade, LevelChanged);
  ``trade_id`` by one for each trade.  Nothing here reads a clock, draws a random number
  or touches I/O: the same commands give the same events and the same state hash.
- Every command gets an answer: a placed order gets Accepted (then trades, and Done or a
  resting LevelChanged) or Rejected; a cancel gets Done or Rejected.

Event order for one command: Accepted or Amended, then for each maker met in priority
order its Trade (or its Done "expired" when self-trade prevention removes it) and its Done
"filled" once empty, a LevelChanged per level touched, and last the taker's own Done or
its resting LevelChanged.
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
        match command:
            case Place():
                return self._place(command)
            case Cancel():
                return self._cancel(command)
            case CancelAll():
                return self._cancel_all(command)
            case Amend():
                return self._amend(command)
            case Halt():
                self.halted = True
                return []
            case Resume():
                self.halted = False
                return []

    def _place(self, cmd: Place) -> list[Event]:
        reason = self._place_refusal(cmd)
        if reason is not None:
            return [Rejected(cmd.order_id, cmd.user_id, reason)]
        is_buy = cmd.side == "buy"
        if cmd.type == "limit":
            limit = cmd.price
        elif is_buy:
            limit = cmd.price or _NO_LIMIT_BUY
        else:
            limit = 0
        opposite = self.asks if is_buy else self.bids
        if cmd.post_only and _crosses(opposite.best(), is_buy, limit):
            return [Rejected(cmd.order_id, cmd.user_id, POST_ONLY_WOULD_TAKE)]
        events: list[Event] = [Accepted(cmd.order_id, cmd.user_id)]
        if cmd.time_in_force == "FOK" and not self._can_fill(cmd, limit):
            events.append(Done(cmd.order_id, cmd.user_id, "expired", cmd.qty))
            return events
        order = RestingOrder(
            cmd.order_id,
            cmd.user_id,
            cmd.side,
            cmd.price,
            cmd.qty,
            cmd.qty,
            cmd.post_only,
            cmd.stp,
        )
        rests = cmd.type == "limit" and cmd.time_in_force == "GTC"
        self._take(order, limit, cmd.quote_qty, rests, events)
        return events

    def _place_refusal(self, cmd: Place) -> str | None:
        if self.halted:
            return MARKET_HALTED
        if cmd.order_id in self.orders:
            return DUPLICATE_ORDER_ID
        if cmd.type == "limit":
            if cmd.price <= 0 or cmd.price % self.tick or cmd.quote_qty:
                return INVALID_ORDER
        elif cmd.price < 0 or cmd.price % self.tick or cmd.post_only:
            return INVALID_ORDER
        if cmd.post_only and cmd.time_in_force != "GTC":
            return INVALID_ORDER
        if cmd.quote_qty:
            if cmd.quote_qty < 0 or cmd.qty or cmd.side != "buy" or cmd.price:
                return INVALID_ORDER
            if cmd.time_in_force == "FOK":
                return INVALID_ORDER
        elif cmd.qty <= 0 or cmd.qty % self.lot:
            return INVALID_ORDER
        return None

    def _cancel(self, cmd: Cancel) -> list[Event]:
        order = self.orders.get(cmd.order_id)
        if order is None or order.user_id != cmd.user_id:
            return [Rejected(cmd.order_id, cmd.user_id, UNKNOWN_ORDER)]
        events: list[Event] = []
        self._remove(order, events)
        return events

    def _cancel_all(self, cmd: CancelAll) -> list[Event]:
        events: list[Event] = []
        mine = sorted(o.order_id for o in self.orders.values() if o.user_id == cmd.user_id)
        for order_id in mine:
            self._remove(self.orders[order_id], events)
        return events

    def _amend(self, cmd: Amend) -> list[Event]:
        order = self.orders.get(cmd.order_id)
        if order is None or order.user_id != cmd.user_id:
            return [Rejected(cmd.order_id, cmd.user_id, UNKNOWN_ORDER)]
        new_qty = cmd.qty or order.qty
        new_price = cmd.price or order.price
        if new_qty < 0 or new_qty % self.lot or new_price < 0 or new_price % self.tick:
            return [Rejected(cmd.order_id, cmd.user_id, INVALID_ORDER)]
        filled = order.qty - order.remaining
        if new_qty <= filled:
            return [Rejected(cmd.order_id, cmd.user_id, AMEND_BELOW_FILLED)]
        is_buy = order.side == "buy"
        own = self.bids if is_buy else self.asks
        if new_price == order.price and new_qty <= order.qty:
            cut = order.qty - new_qty
            order.qty = new_qty
            order.remaining -= cut
            level = own.levels[order.price]
            level.total -= cut
            events: list[Event] = [
                Amended(order.order_id, order.user_id, new_price, new_qty, order.remaining)
            ]
            if cut:
                self.seq += 1
                events.append(LevelChanged(self.seq, order.side, level.price, level.total))
            return events
        if self.halted:
            return [Rejected(cmd.order_id, cmd.user_id, MARKET_HALTED)]
        opposite = self.asks if is_buy else self.bids
        if order.post_only and _crosses(opposite.best(), is_buy, new_price):
            return [Rejected(cmd.order_id, cmd.user_id, POST_ONLY_WOULD_TAKE)]
        del self.orders[order.order_id]
        level = own.remove(order)
        remaining = new_qty - filled
        events = [Amended(order.order_id, order.user_id, new_price, new_qty, remaining)]
        self.seq += 1
        events.append(LevelChanged(self.seq, order.side, level.price, level.total))
        order.price = new_price
        order.qty = new_qty
        order.remaining = remaining
        self._take(order, new_price, 0, True, events)
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
            level = opposite.best()
            if level is None or not _crosses(level, is_buy, limit):
                break
            if by_quote:
                affordable = budget * self.base_scale // level.price // self.lot * self.lot
                if affordable == 0:
                    out_of_budget = True
                    break
                taker.remaining = affordable
            before = taker.remaining
            stopped_by_stp = self._match_level(taker, level, opposite, events)
            if by_quote:
                budget -= level.price * (before - taker.remaining) // self.base_scale
                taker.remaining = 0
            if stopped_by_stp:
                break
        if by_quote:
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
        gone: list[tuple[RestingOrder, str]] = []
        stopped = False
        want = taker.remaining
        price = level.price
        taker_side = taker.side
        for maker in level.orders.values():
            if maker.user_id == taker.user_id:
                stp = taker.stp
                if stp != "expire_taker":
                    gone.append((maker, "expired"))
                    events.append(Done(maker.order_id, maker.user_id, "expired", maker.remaining))
                if stp != "expire_maker":
                    stopped = True
                    break
                continue
            qty = want if want < maker.remaining else maker.remaining
            maker.remaining -= qty
            want -= qty
            self.seq += 1
            self.trade_id += 1
            events.append(
                Trade(
                    self.seq,
                    self.trade_id,
                    price,
                    qty,
                    taker_side,
                    maker.order_id,
                    maker.user_id,
                    taker.order_id,
                    taker.user_id,
                )
            )
            if maker.remaining == 0:
                gone.append((maker, "filled"))
                events.append(Done(maker.order_id, maker.user_id, "filled", 0))
            if want == 0:
                break
        if not gone and want == taker.remaining:
            return stopped
        orders = level.orders
        index = self.orders
        for maker, status in gone:
            del orders[maker.order_id]
            del index[maker.order_id]
            if status == "expired":
                level.total -= maker.remaining
        level.total -= taker.remaining - want
        taker.remaining = want
        opposite.drop_if_empty(level)
        self.seq += 1
        events.append(LevelChanged(self.seq, opposite.side, price, level.total))
        return stopped

    def _can_fill(self, cmd: Place, limit: int) -> bool:
        """Whether a FOK order would fill completely, honouring self-trade prevention."""
        is_buy = cmd.side == "buy"
        opposite = self.asks if is_buy else self.bids
        need = cmd.qty
        for level in opposite.levels_best_first():
            if not _crosses(level, is_buy, limit):
                return False
            for maker in level.orders.values():
                if maker.user_id == cmd.user_id:
                    if cmd.stp == "expire_maker":
                        continue
                    return False
                need -= maker.remaining
                if need <= 0:
                    return True
        return False

    def _remove(self, order: RestingOrder, events: list[Event]) -> None:
        del self.orders[order.order_id]
        side = self.bids if order.side == "buy" else self.asks
        level = side.remove(order)
        events.append(Done(order.order_id, order.user_id, "cancelled", order.remaining))
        self.seq += 1
        events.append(LevelChanged(self.seq, order.side, level.price, level.total))

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


def _crosses(level: Level | None, is_buy: bool, limit: int) -> bool:
    if level is None:
        return False
    return level.price <= limit if is_buy else level.price >= limit
