"""The dead man's switch in real engine and accounts processes: it fires on an idle shard
from the shard's own clock, and a shard killed afterwards replays the journaled tick
into the same state: nothing fires twice, nothing is lost."""

from __future__ import annotations

import json
import time

from test_order_flow import BTC, USDT, Trader

from actors.accounts.protocol import (
    AccountsReply,
    CancelAfter,
    Deposit,
    GetOrder,
    GetStatus,
    OrderReply,
    PlaceOrder,
    ShardStatus,
    SwitchReply,
)
from harness.cluster import Cluster


def last_log(actors: Cluster, name: str, msg: str) -> dict[str, object]:
    records = [
        json.loads(line) for line in actors.read_log(name).splitlines() if line.startswith("{")
    ]
    found: dict[str, object] = [r for r in records if r.get("msg") == msg][-1]
    return found


def status(actors: Cluster, shard: int) -> ShardStatus:
    client = actors.shard_client(shard)
    try:
        reply = client.call(GetStatus(), AccountsReply)
    finally:
        client.close()
    assert isinstance(reply, ShardStatus), reply
    return reply


def test_the_switch_fires_on_an_idle_shard_and_its_tick_replays(actors: Cluster) -> None:
    alice = Trader(actors, 0, "alice")
    alice.call(Deposit, asset="USDT", amount=100_000 * USDT)
    alice.call(Deposit, asset="ETH", amount=BTC)
    placed = [
        alice.call(
            PlaceOrder, market="BTC-USDT", side="buy", type="limit", price=20_000 * USDT, qty=BTC
        ),
        alice.call(PlaceOrder, market="ETH-USDT", side="sell", type="limit", price=USDT, qty=BTC),
    ]
    assert all(isinstance(reply, OrderReply) for reply in placed), placed
    ids = [reply.order.order_id for reply in placed]  # type: ignore[union-attr]
    armed = alice.call(CancelAfter, timeout_ms=1_000)
    assert isinstance(armed, SwitchReply) and armed.trigger_time == armed.now + 1_000

    deadline = time.monotonic() + 20
    while not all(alice.call(GetOrder, order_id=i).order.status == "cancelled" for i in ids):
        assert time.monotonic() < deadline, "the switch did not fire"
        time.sleep(0.02)
    cancelled_at = [alice.call(GetOrder, order_id=i).order.updated_at for i in ids]
    assert all(armed.trigger_time <= at for at in cancelled_at), (armed, cancelled_at)
    assert alice.balances() == {"BTC": (0, 0), "ETH": (BTC, 0), "USDT": (100_000 * USDT, 0)}
    before = status(actors, 0)
    assert before.pending_requests == 0

    actors.kill("accounts-0")
    actors.start_shard(0)
    recovered = last_log(actors, "accounts-0", "recovered")
    assert (
        isinstance(recovered["replayed"], int) and recovered["replayed"] > 0
    )  # no snapshot: the journal, clock tick and all
    after = status(actors, 0)
    # The tick replayed: the switch is disarmed, so it does not fire (or send) again.
    assert after.engine_out_seq == before.engine_out_seq
    assert after.engine_in_seq == before.engine_in_seq
    alice.client = actors.shard_client(0)
    assert [alice.call(GetOrder, order_id=i).order.status for i in ids] == ["cancelled"] * 2
    assert actors.stop("accounts-0") == 0
    stopped = last_log(actors, "accounts-0", "stopped with a snapshot")
    assert stopped["state_hash"] == recovered["state_hash"]
