"""Every actor serves its metrics in the Prometheus text format."""

from __future__ import annotations

import hashlib
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from actors.accounts.protocol import AccountsReply, Auth, CreateUser, Deposit, PlaceOrder
from harness.cluster import Cluster


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_actors_count_commands_and_report_their_books(actors: Cluster) -> None:
    shard = actors.shard_client(0)
    key = hashlib.sha256(b"k").digest()
    user = shard.call(CreateUser(key), AccountsReply).user_id
    auth = Auth(user, key)
    shard.call(Deposit(auth, "USDT", 10_000_000_000), AccountsReply)
    for index in range(3):
        price = (20_000 + index) * 1_000_000
        shard.call(
            PlaceOrder(auth, "BTC-USDT", "buy", "limit", price=price, qty=10_000), AccountsReply
        )

    engine = actors.config.engines["BTC-USDT"].metrics
    assert engine is not None
    samples = scrape(f"http://{engine.address}:{engine.port}/metrics")
    assert samples["bourse_open_orders"] == 3
    assert samples["bourse_bid_levels"] == 3
    assert samples["bourse_messages_total"] >= 3
    assert samples["bourse_journal_commit_seconds_count"] >= 1
    assert "bourse_turn_seconds_bucket" in samples

    accounts = actors.config.shards[0].metrics
    assert accounts is not None
    samples = scrape(f"http://{accounts.address}:{accounts.port}/metrics")
    assert samples["bourse_users"] == 1
    assert samples["bourse_open_orders"] == 3
    # no snapshot yet: a restart would replay every record (create, deposit, 3 places,
    # 3 engine reports), and none has failed
    assert samples["bourse_records_since_snapshot"] >= 8
    assert samples["bourse_snapshot_failures"] == 0
