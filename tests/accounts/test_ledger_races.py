"""Messages that cross on the way: what a shard answers when the engine moved first."""

from __future__ import annotations

from pathlib import Path

from actors.accounts.ledger import Ledger
from actors.accounts.protocol import (
    Auth,
    CancelOrder,
    CreateUser,
    Deposit,
    ErrorReply,
    OrderReply,
    PlaceOrder,
    UserCreated,
)
from actors.accounts.shard import LedgerOutput
from actors.engine.messages import Accepted, Done, Rejected, Trade
from actors.engine.protocol import Report
from bourse.config import load_config

CONFIG = load_config(Path(__file__).resolve().parents[2] / "configs" / "local.toml")
KEY = b"k" * 32


def test_a_cancel_that_crosses_a_fill_is_told_the_order_is_closed() -> None:
    ledger = Ledger(CONFIG, 0)
    out = LedgerOutput()
    ledger.handle_request(1, b"gw", 1, CreateUser(KEY), out)
    created = out.replies[-1][2]
    assert isinstance(created, UserCreated)
    auth = Auth(created.user_id, KEY)
    ledger.handle_request(2, b"gw", 2, Deposit(auth, "BTC", 100_000_000), out)
    ledger.handle_request(
        3, b"gw", 3, PlaceOrder(auth, "BTC-USDT", "sell", "limit", 30_000_000_000, 10_000), out
    )
    ((_, placed),) = out.engine[-1:]
    order_id = placed.command.order_id  # type: ignore[union-attr]
    ledger.handle_report(
        Report("BTC-USDT", 1, placed.seq, 4, [Accepted(order_id, auth.user_id)]), out
    )

    ledger.handle_request(5, b"gw", 5, CancelOrder(auth, order_id), out)
    cancel_seq = out.engine[-1][1].seq
    taker = 1 << 40 | 7  # a user of shard 1 takes the order before the cancel arrives
    fill = Trade(1, 1, 30_000_000_000, 10_000, "buy", order_id, auth.user_id, 99, taker)
    ledger.handle_report(
        Report("BTC-USDT", 2, 0, 6, [fill, Done(order_id, auth.user_id, "filled", 0)]), out
    )
    rejected = Rejected(order_id, auth.user_id, "ORDER_NOT_FOUND")
    replies_before = len(out.settled)
    ledger.handle_report(Report("BTC-USDT", 3, cancel_seq, 7, [rejected]), out)

    ((peer, rid, reply),) = out.settled[replies_before:]
    assert (peer, rid) == (b"gw", 5)
    assert isinstance(reply, ErrorReply)
    assert (reply.status, reply.code) == (422, "ORDER_CLOSED")
    assert "filled" in reply.message
    balances = ledger.state.users[auth.user_id].balances
    assert (balances["BTC"].free, balances["BTC"].locked) == (100_000_000 - 10_000, 0)
    assert balances["USDT"].free == 3_000_000 - 3_000  # 3 USDT less the 0.1% maker fee
    assert not isinstance(reply, OrderReply)


def test_a_reply_sent_before_the_commit_is_the_same_after_a_crash() -> None:
    """A shard answers a place as soon as the engine's report settles it, before it
    journals the report.  If it crashes then, it replays its journal (which ends with the
    place), takes other requests, and gets the report again from the engine: it must
    reach the answer it already gave, and the same balances."""
    maker = 1 << 40 | 7  # a user of shard 1 sells
    journal: list[tuple[int, object]] = []

    def replay(ledger: Ledger, out: LedgerOutput) -> int:
        for rid, request in journal:
            ledger.handle_request(rid, b"gw", rid, request, out)  # type: ignore[arg-type]
        return len(journal)

    ledger = Ledger(CONFIG, 0)
    out = LedgerOutput()
    journal.append((1, CreateUser(KEY)))
    replay(ledger, out)
    created = out.replies[-1][2]
    assert isinstance(created, UserCreated)
    auth = Auth(created.user_id, KEY)
    journal.append((2, Deposit(auth, "USDT", 1_000_000_000)))
    journal.append((3, PlaceOrder(auth, "BTC-USDT", "buy", "limit", 30_000_000_000, 20_000)))
    live = Ledger(CONFIG, 0)
    out = LedgerOutput()
    replay(live, out)
    ((_, placed),) = out.engine
    order_id = placed.command.order_id  # type: ignore[union-attr]
    fill = Trade(1, 1, 29_990_000_000, 20_000, "buy", 99, maker, order_id, auth.user_id)
    report = Report("BTC-USDT", 1, placed.seq, 4, [fill, Done(order_id, auth.user_id, "filled", 0)])
    live.handle_report(report, out)
    ((peer, rid, answered),) = out.settled
    assert (peer, rid) == (b"gw", 3)
    assert isinstance(answered, OrderReply) and answered.order.status == "filled"

    crashed = Ledger(CONFIG, 0)  # the report's turn never reached the journal
    out = LedgerOutput()
    replay(crashed, out)
    crashed.handle_request(5, b"gw", 5, Deposit(auth, "USDT", 1_000), out)  # arrives first
    crashed.handle_report(report, out)  # the engine resends what the shard did not sync
    ((_, _, again),) = out.settled
    assert again == answered
    before = live.state.users[auth.user_id].balances
    after = crashed.state.users[auth.user_id].balances
    assert after["BTC"] == before["BTC"]
    assert after["USDT"].locked == before["USDT"].locked == 0
    assert after["USDT"].free == before["USDT"].free + 1_000
