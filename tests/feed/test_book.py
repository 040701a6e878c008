"""The L2 book, its checksum and the Clone-pattern sync, without any process."""

from __future__ import annotations

import zlib

from actors.engine.messages import LevelChanged
from actors.engine.protocol import DepthReply, PublicTrade
from feed.book import BookSync, L2Book, checksum


def level(seq: int, side: str, price: int, total: int) -> LevelChanged:
    return LevelChanged(seq, side, price, total)  # type: ignore[arg-type]


def trade(seq: int, price: int = 100) -> PublicTrade:
    return PublicTrade(seq, seq, price, 1, "buy", 0)


def snapshot(seq: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> DepthReply:
    return DepthReply("BTC-USDT", seq, False, bids, asks)


def test_checksum_is_crc32_of_asks_then_bids_as_sent() -> None:
    asks = [("101.00", "1.5000"), ("102.00", "2.0000")]
    bids = [("100.00", "0.1000"), ("99.50", "3.0000")]
    text = "101.00:1.5000:102.00:2.0000:100.00:0.1000:99.50:3.0000"
    assert checksum(asks, bids) == zlib.crc32(text.encode())
    assert checksum([], []) == 0
    assert checksum([], bids) == zlib.crc32(b"100.00:0.1000:99.50:3.0000")


def test_book_orders_sides_best_first_and_drops_empty_levels() -> None:
    book = L2Book.from_levels(5, [(99, 1), (101, 2), (100, 0)], [(105, 1), (103, 4)])
    assert book.bids() == [(101, 2), (99, 1)]
    assert book.asks() == [(103, 4), (105, 1)]
    book.set("buy", 101, 0)
    book.set("sell", 102, 7)
    assert book.bids(1) == [(99, 1)]
    assert book.asks(2) == [(102, 7), (103, 4)]
    assert len(book) == 4


def test_sync_buffers_until_the_snapshot_and_drops_what_it_covers() -> None:
    sync = BookSync("BTC-USDT")
    assert sync.start().want_snapshot
    # Subscribed first: these arrive while the snapshot is on its way.
    assert not sync.on_events([level(4, "buy", 100, 1)]).want_snapshot
    assert sync.on_events([level(5, "sell", 110, 2), trade(6)]).applied == []
    assert not sync.live
    step = sync.on_snapshot(snapshot(4, [(100, 1)], []))
    assert step.reset and sync.live
    assert sync.book.seq == 6
    assert sync.book.asks() == [(110, 2)] and sync.book.bids() == [(100, 1)]
    step = sync.on_events([level(7, "buy", 100, 0)])
    assert step.applied == [level(7, "buy", 100, 0)] and not step.want_snapshot
    assert sync.book.bids() == []


def test_an_event_past_a_gap_asks_for_a_new_snapshot_once() -> None:
    sync = BookSync("BTC-USDT")
    sync.start()
    sync.on_snapshot(snapshot(10, [(100, 1)], []))
    step = sync.on_events([level(11, "buy", 100, 2), level(13, "buy", 100, 3)])
    assert step.applied == [level(11, "buy", 100, 2)]
    assert step.want_snapshot and not sync.live
    # Already fetching: later events buffer without a second request.
    assert not sync.on_events([level(14, "buy", 99, 1)]).want_snapshot
    step = sync.on_snapshot(snapshot(13, [(100, 3)], []))
    assert step.reset and sync.live and sync.book.seq == 14
    assert sync.book.bids() == [(100, 3), (99, 1)]


def test_a_frame_gap_resyncs_even_when_market_seqs_look_fine() -> None:
    sync = BookSync("BTC-USDT")
    sync.start()
    sync.on_snapshot(snapshot(1, [], []))
    step = sync.on_events([level(2, "sell", 110, 1)], contiguous=False)
    assert step.want_snapshot and not sync.live and step.applied == []


def test_a_snapshot_the_buffer_does_not_continue_asks_again() -> None:
    sync = BookSync("BTC-USDT")
    sync.start()
    sync.on_events([level(20, "buy", 100, 1)])
    step = sync.on_snapshot(snapshot(5, [], []))
    assert step.want_snapshot and not step.reset and not sync.live
    step = sync.on_snapshot(snapshot(19, [(100, 9)], []))
    assert step.reset and sync.live and sync.book.bids() == [(100, 1)]


def test_a_restarted_engine_counting_from_one_again_is_followed() -> None:
    sync = BookSync("BTC-USDT")
    sync.start()
    sync.on_snapshot(snapshot(50, [(100, 1)], []))
    # The publisher restarted (frame gap) with a fresh book: market seq 1 again.
    sync.on_events([level(1, "sell", 120, 1)], contiguous=False)
    step = sync.on_snapshot(snapshot(1, [], [(120, 1)]))
    assert step.reset and sync.book.seq == 1 and sync.book.bids() == []


def test_limits_take_the_best_levels() -> None:
    book = L2Book.from_levels(1, [(p, 1) for p in range(1, 30)], [(p, 1) for p in range(40, 70)])
    assert [p for p, _ in book.bids(3)] == [29, 28, 27]
    assert [p for p, _ in book.asks(3)] == [40, 41, 42]
    assert len(book.bids(100)) == 29
