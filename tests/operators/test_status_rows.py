"""How ``bourse status`` shows a pair: the leader that answered, its standby as the leader
sees it, or every instance down; and the actors a gateway's health answer leaves out."""

from __future__ import annotations

from actors.replication import PairStatus
from bourse.config import Endpoint, Instance
from control.status import pair_rows, unreached_in


def instance(name: str, host: str, port: int) -> Instance:
    endpoint = Endpoint(host, f"10.0.0.{port % 7}", port)
    return Instance(name, endpoint, endpoint, None, endpoint)


PAIR = (instance("engine-BTC-USDT", "a", 7101), instance("engine-BTC-USDT_standby", "b", 7111))


def test_the_leader_and_its_standby_each_have_a_row_on_their_host() -> None:
    pair = PairStatus("engine-BTC-USDT_standby", 120, 7, "engine-BTC-USDT", 118, True)
    rows = pair_rows(PAIR, pair, "trading, seq 5")
    assert [(r.host, r.process, r.state) for r in rows] == [
        ("a", "engine-BTC-USDT", "standby"),
        ("b", "engine-BTC-USDT_standby", "up"),
    ]
    assert rows[0].details == "in sync, 2 records behind engine-BTC-USDT_standby"
    assert rows[1].details == "trading, seq 5; leads at epoch 7"


def test_a_standby_out_of_sync_or_gone_is_not_healthy() -> None:
    lagging = PairStatus("engine-BTC-USDT", 500, 3, "engine-BTC-USDT_standby", 100, False)
    rows = pair_rows(PAIR, lagging, "trading")
    assert rows[1].state == "DEGRADED" and "NOT in sync, 400 records behind" in rows[1].details
    alone = PairStatus("engine-BTC-USDT", 500, 3, None)
    assert pair_rows(PAIR, alone, "trading")[1].state == "DOWN"
    assert not any(row.healthy for row in pair_rows(PAIR, None, ""))


def test_a_single_instance_without_a_coordinator_is_just_up() -> None:
    (row,) = pair_rows(PAIR[:1], PairStatus("engine-BTC-USDT", 9), "trading")
    assert (row.state, row.details) == ("up", "trading")


def test_the_actors_a_health_answer_says_are_down() -> None:
    health = {
        "ok": False,
        "engines": [{"market": "BTC-USDT", "up": True}, {"market": "ETH-USDT", "up": False}],
        "shards": [{"shard": 0, "up": False}, {"shard": 1, "up": True}],
        "feed": {"up": False},
    }
    assert unreached_in(health) == ["engine-ETH-USDT", "accounts-0", "feed"]
