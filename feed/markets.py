"""One market's derived data in the feed: book sync, depth channel, trades, klines, ticker.

Invariants:
- Engine messages are ingested in arrival order; a batch of them is committed to the
  store before any of its trades, klines or tickers is pushed (``publish_batch``), so
  whatever a client saw survives a crash of the feed.
- Trades are taken once each and in market sequence order, whether or not the book is in
  sync (``feed/trades.py``): past a gap, or at start, the missed ones are fetched from
  the engine before newer ones are taken, and the cursor is stored with them.
- Depth updates leave at most ``conflate_s`` after the first change of their window; a
  resync replaces the window by a fresh snapshot to every depth subscriber.
- Tickers leave on trades, at most one per ``TICKER_MIN_S`` per market, and the last
  change of a burst is always sent (a trailing send is scheduled).
- Klines are pushed on every trade for the buckets it touched (``closed=False``) and once
  more with ``closed=True`` when a bucket ends, by a trade in a later bucket or by the
  clock; a trade that corrects a bucket already closed pushes it with ``closed=True``.
- A market is ``stale`` once nothing (events or heartbeat) came from its engine for
  ``stale_after_s``: its subscribers (of any of its channels, each once) are told
  ``{"channel": "status", "status": "stale"}``; the first message after that tells them
  ``"live"``, followed by a fresh depth snapshot (at once when the book is in sync, else
  when the resync completes).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence

import msgspec

from actors.engine.protocol import DepthReply, Heartbeat, PublicTrade, TradesSince
from bourse.logs import now_ms
from bourse.market import Market
from feed.book import BookSync, PublicEvent, Step
from feed.candles import INTERVALS, MINUTE_MS, WINDOW_MINUTES, Candles, KlineChange
from feed.depth import DepthChannel
from feed.hub import Hub, Key, Session
from feed.outbound import Frame
from feed.protocol import KlineRow, TickerRow, TradeRow
from feed.store import KEEP_TRADES, FeedStore
from feed.trades import TradeStep, TradeSync
from feed.wire import StatusPush, kline_push, ticker_push, trade_push

log = logging.getLogger("feed")

TICKER_MIN_S = 0.1

_encode = msgspec.json.Encoder().encode


class MarketData:
    def __init__(
        self,
        market: Market,
        hub: Hub,
        store: FeedStore,
        conflate_s: float,
        want_snapshot: Callable[[str], None],
        want_trades: Callable[[str], None],
    ) -> None:
        self.market = market
        self.name = market.name
        self.hub = hub
        self.store = store
        self.conflate_s = conflate_s
        self._want_snapshot = want_snapshot
        self._want_trades = want_trades
        self.sync = BookSync(market.name)
        self.trade_sync = TradeSync()
        self.stale = False
        self.last_heard = 0.0  # the event loop's time of the engine's last message
        self.depth = DepthChannel(market)
        self.candles = Candles(market.name, market.base_scale)
        self.trades: deque[TradeRow] = deque(maxlen=KEEP_TRADES)
        self._new_trades: list[TradeRow] = []
        self._new_klines: list[tuple[str, KlineRow, bool]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._ticker_handle: asyncio.TimerHandle | None = None
        self._close_handle: asyncio.TimerHandle | None = None
        self._close_at: int | None = None
        self._last_ticker = 0.0
        self._depth_key = ("depth", self.name)
        self._trades_key = ("trades", self.name)
        self._ticker_key = ("ticker", self.name)
        self._channel_keys: list[Key] = [
            self._depth_key,
            self._trades_key,
            self._ticker_key,
            *(("kline", self.name, interval) for interval in INTERVALS),
        ]
        self.stale_frame = Frame(_encode(StatusPush(market=self.name, status="stale")))
        self._live_frame = Frame(_encode(StatusPush(market=self.name, status="live")))

    # --- start-up ----------------------------------------------------------------------------

    def restore(self) -> None:
        """Load recent trades, klines and the trade cursor from the store."""
        self.trade_sync = TradeSync(*self.store.load_cursor(self.name))
        trades = self.store.load_trades(self.name)
        self.trades.extend(trades)
        current = self.store.load_current(self.name)
        newest = max((c.time for c in current.values()), default=0)
        minutes = self.store.load_minutes(self.name, newest - WINDOW_MINUTES * MINUTE_MS)
        last = trades[-1] if trades else None
        self.candles.restore(current, minutes, last.price if last else 0, last.time if last else 0)

    def start(self) -> None:
        self.last_heard = asyncio.get_running_loop().time()
        self._handle(self.sync.start())
        self._take_trades(self.trade_sync.start())
        self._arm_close_timer()

    # --- engine messages -----------------------------------------------------------------

    def ingest(self, events: Sequence[PublicEvent], contiguous: bool) -> None:
        self._handle(self.sync.on_events(events, contiguous))
        self._take_trades(self.trade_sync.on_events(events))

    def on_heartbeat(self, heartbeat: Heartbeat) -> None:
        sync = self.sync
        if sync.live and heartbeat.seq != sync.book.seq:
            # Events were lost (the last ones before a quiet spell leave no gap behind
            # them), or the engine is behind what the feed holds.
            log.warning(
                "heartbeat resync",
                extra={
                    "fields": {"market": self.name, "engine": heartbeat.seq, "feed": sync.book.seq}
                },
            )
            self._handle(sync.force_resync())
        self._take_trades(self.trade_sync.on_heartbeat(heartbeat.seq))

    def on_trades(self, answer: TradesSince) -> None:
        """The engine's answer to the trades after the cursor: taken like live ones."""
        self._take_trades(self.trade_sync.on_answer(answer))

    @property
    def catching_up(self) -> bool:
        return self.trade_sync.catching_up

    def _take_trades(self, step: TradeStep) -> None:
        for trade in step.trades:
            self._take_trade(trade)
        if step.trades or step.reset:
            self.store.set_cursor(self.name, self.trade_sync.through)
        if step.lost:
            log.warning(
                "trades lost: no longer retained by the engine",
                extra={"fields": {"market": self.name, "trades": step.lost}},
            )
        if step.reset:
            log.error(
                "the engine's history is behind the feed's: following it from the start",
                extra={"fields": {"market": self.name}},
            )
        if step.want:
            self._want_trades(self.name)

    # --- staleness -------------------------------------------------------------------------

    def heard(self, now: float) -> None:
        """A message of this market's engine came (at the loop's time ``now``)."""
        self.last_heard = now
        if self.stale:
            self.stale = False
            log.info("market live again", extra={"fields": {"market": self.name}})
            self.hub.publish_once(self._channel_keys, self._live_frame)
            if self.sync.live and self.depth.ready:
                self._cancel_flush()
                self.hub.publish(self._depth_key, self.depth.reset(self.sync.book))
            # else the resync under way sends depth subscribers a snapshot when it ends

    def check_stale(self, now: float, after_s: float) -> None:
        if not self.stale and now - self.last_heard > after_s:
            self.stale = True
            log.warning(
                "market stale: its engine fell silent",
                extra={"fields": {"market": self.name, "silent_s": round(now - self.last_heard)}},
            )
            self.hub.publish_once(self._channel_keys, self.stale_frame)

    def on_snapshot(self, reply: DepthReply) -> None:
        self._handle(self.sync.on_snapshot(reply))

    def force_resync(self) -> None:
        self._handle(self.sync.force_resync())

    def _handle(self, step: Step) -> None:
        if step.reset:
            self._cancel_flush()
            self.hub.publish(self._depth_key, self.depth.reset(self.sync.book))
        elif self.sync.live:
            if self.depth.add(step.applied, self.sync.book.seq):
                self._schedule_flush()
        else:
            self._cancel_flush()
            self.depth.stale()
        if step.want_snapshot:
            self._want_snapshot(self.name)

    def _take_trade(self, event: PublicTrade) -> None:
        row = TradeRow(event.trade_id, event.price, event.qty, event.taker_side, event.time)
        self.trades.append(row)
        self.store.add_trade(self.name, row)
        self._new_trades.append(row)
        for change in self.candles.add_trade(event.price, event.qty, event.time):
            self.store.put_kline(self.name, change.interval, change.candle)
            self._new_klines.append((change.interval, change.candle.row(), change.closed))

    def publish_batch(self) -> None:
        """After the store committed: push this batch's trades, klines and ticker."""
        if not self._new_trades:
            return
        hub, market = self.hub, self.market
        if hub.has_subscribers(self._trades_key):
            for row in self._new_trades:
                hub.publish(self._trades_key, _encode(trade_push(row, market)))
        for interval, kline, closed in self._new_klines:
            key = ("kline", self.name, interval)
            if hub.has_subscribers(key):
                hub.publish(key, _encode(kline_push(kline, market, interval, closed)))
        self._new_trades.clear()
        self._new_klines.clear()
        self._ticker_due()
        self._arm_close_timer()

    # --- depth -----------------------------------------------------------------------------

    def subscribe_depth(self, session: Session) -> None:
        self.hub.subscribe(session, self._depth_key)
        if self.depth.ready:
            self.hub.send(session, self.depth.snapshot())

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self.conflate_s, self._flush)

    def _cancel_flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _flush(self) -> None:
        self._flush_handle = None
        data = self.depth.flush()
        if data is not None:
            self.hub.publish(self._depth_key, data)

    # --- ticker ------------------------------------------------------------------------------

    def ticker(self) -> TickerRow:
        return self.candles.ticker(now_ms())

    def _ticker_due(self) -> None:
        if self._ticker_handle is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_ticker + TICKER_MIN_S - loop.time()
        if wait <= 0:
            self._send_ticker()
        else:
            self._ticker_handle = loop.call_later(wait, self._send_ticker)

    def _send_ticker(self) -> None:
        self._ticker_handle = None
        self._last_ticker = asyncio.get_running_loop().time()
        if self.hub.has_subscribers(self._ticker_key):
            self.hub.publish(self._ticker_key, _encode(ticker_push(self.ticker(), self.market)))

    # --- kline closing by the clock ------------------------------------------------------------

    def _arm_close_timer(self) -> None:
        at = self.candles.next_close()
        if at is None or (self._close_at is not None and self._close_at <= at):
            return
        if self._close_handle is not None:
            self._close_handle.cancel()
        self._close_at = at
        delay = max(0.0, (at - now_ms()) / 1000)
        self._close_handle = asyncio.get_running_loop().call_later(delay, self._close_due)

    def _close_due(self) -> None:
        self._close_handle = None
        self._close_at = None
        changes: list[KlineChange] = self.candles.close_due(now_ms())
        for change in changes:
            key = ("kline", self.name, change.interval)
            if self.hub.has_subscribers(key):
                push = kline_push(change.candle.row(), self.market, change.interval, True)
                self.hub.publish(key, _encode(push))
        self._arm_close_timer()

    def stop(self) -> None:
        for handle in (self._flush_handle, self._ticker_handle, self._close_handle):
            if handle is not None:
                handle.cancel()

    # --- queries -----------------------------------------------------------------------------

    def recent_trades(self, limit: int) -> list[TradeRow]:
        """Newest first."""
        trades = self.trades
        count = min(limit, len(trades))
        return [trades[-1 - i] for i in range(count)]

    @property
    def seq(self) -> int:
        return self.sync.book.seq
