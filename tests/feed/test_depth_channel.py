"""Conflated depth messages: net changes, the prev_seq chain, snapshots for newcomers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from feedkit import DepthModel

from actors.engine.messages import LevelChanged
from bourse.market import Market
from feed.book import L2Book
from feed.depth import DepthChannel
from feed.outbound import Frame

BTC = Market("BTC-USDT", "BTC", "USDT", 8, 6, 2, 4, 10_000, 10_000, 1_000_000, 1000, 2000)
P = 1_000_000  # one USDT
Q = 100_000_000  # one BTC


def level(seq: int, side: str, price: int, total: int) -> LevelChanged:
    return LevelChanged(seq, side, price, total)  # type: ignore[arg-type]


def decode(data: bytes | Frame | None) -> dict[str, Any]:
    assert data is not None
    message: dict[str, Any] = json.loads(data.payload if isinstance(data, Frame) else data)
    return message


def test_updates_chain_and_carry_net_changes_with_checksums() -> None:
    channel = DepthChannel(BTC)
    book = L2Book.from_levels(3, [(100 * P, Q)], [(101 * P, 2 * Q)])
    client = DepthModel("BTC-USDT")
    client.apply(decode(channel.reset(book)))
    assert client.seq == 3

    assert channel.add([level(4, "buy", 100 * P, 3 * Q)], 4)  # opens a window
    assert not channel.add([level(5, "buy", 99 * P, Q), level(6, "buy", 99 * P, 0)], 7)
    update = decode(channel.flush())
    assert update["type"] == "update" and update["prev_seq"] == 3 and update["seq"] == 7
    # 99 came and went inside the window: not sent.
    assert update["bids"] == [["100.00", "3.0000"]] and update["asks"] == []
    client.apply(update)

    channel.add([level(8, "sell", 101 * P, 0), level(9, "sell", 102 * P, Q // 2)], 9)
    update = decode(channel.flush())
    assert update["asks"] == [["101.00", "0.0000"], ["102.00", "0.5000"]]
    client.apply(update)
    assert client.sorted_asks() == [["102.00", "0.5000"]]
    assert channel.flush() is None  # nothing since


def test_a_new_subscriber_gets_the_published_state_so_the_next_update_chains() -> None:
    channel = DepthChannel(BTC)
    channel.reset(L2Book.from_levels(1, [], []))
    channel.add([level(2, "buy", 100 * P, Q)], 2)
    late = DepthModel("BTC-USDT")
    late.apply(decode(channel.snapshot()))  # mid-window: still the state at seq 1
    assert late.seq == 1 and late.bids == {}
    late.apply(decode(channel.flush()))
    assert late.seq == 2 and late.bids == {"100.00": "1.0000"}


def test_a_window_that_nets_out_still_advances_seq() -> None:
    channel = DepthChannel(BTC)
    channel.reset(L2Book.from_levels(1, [], []))
    channel.add([level(2, "buy", 100 * P, Q), level(3, "buy", 100 * P, 0)], 3)
    update = decode(channel.flush())
    assert update["seq"] == 3 and update["prev_seq"] == 1
    assert update["bids"] == [] and update["asks"] == []


def test_checksum_covers_ten_levels_a_side() -> None:
    bids = [((100 - i) * P, Q) for i in range(15)]
    asks = [((101 + i) * P, Q) for i in range(15)]
    channel = DepthChannel(BTC)
    snapshot = decode(channel.reset(L2Book.from_levels(1, bids, asks)))
    assert len(snapshot["bids"]) == 15
    DepthModel("BTC-USDT").apply(snapshot)  # checks the checksum on its own


def test_changes_before_the_first_snapshot_are_ignored() -> None:
    channel = DepthChannel(BTC)
    assert not channel.add([level(1, "buy", P, Q)], 1)
    assert channel.flush() is None


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
def test_frames_are_unmasked_final_text_frames(size: int) -> None:
    payload = b"x" * size
    frame = Frame(payload).frame
    assert frame[0] == 0x81 and not frame[1] & 0x80
    length, head = frame[1] & 0x7F, 2
    if length == 126:
        length, head = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, head = int.from_bytes(frame[2:10], "big"), 10
    assert length == size and frame[head:] == payload
