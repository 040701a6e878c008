"""The gateway and the feed serve Prometheus metrics too."""

from __future__ import annotations

from gateway_kit import Api, scrape, wait_until
from websockets.sync.client import connect

from harness.cluster import Cluster


def test_the_gateway_counts_requests_per_route(api: Api) -> None:
    assert api.get("/api/v1/markets").status_code == 200
    samples = scrape(f"{api.base_url}/metrics")
    requests = samples["bourse_gateway_requests_total"]
    assert any(labels.get("path") == "/api/v1/markets" and value >= 1 for labels, value in requests)
    assert "bourse_gateway_request_duration_seconds_bucket" in samples
    assert "/metrics" not in api.get("/schema/openapi.json").json()["paths"]


def test_the_feed_reports_connections_and_market_sequences(cluster: Cluster) -> None:
    feed = cluster.config.feed_ws
    samples = scrape(f"http://{feed.address}:{feed.port}/metrics")
    markets = {labels["market"] for labels, _ in samples["bourse_feed_market_seq"]}
    assert markets == set(cluster.config.markets)
    assert "bourse_feed_slow_consumers_closed" in samples


def test_the_feed_counts_a_subscriber_while_it_is_connected(cluster: Cluster) -> None:
    feed = cluster.config.feed_ws
    metrics_url = f"http://{feed.address}:{feed.port}/metrics"

    def connections() -> float:
        return scrape(metrics_url)["bourse_feed_connections"][0][1]

    before = connections()
    with connect(f"ws://{feed.address}:{feed.port}/ws"):
        wait_until(lambda: connections() == before + 1, what="the feed to count the subscriber")
    wait_until(lambda: connections() == before, what="the feed to forget the subscriber")
