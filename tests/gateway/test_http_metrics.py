"""The gateway and the feed serve Prometheus metrics too."""

from __future__ import annotations

from gateway_kit import Api, scrape

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
    assert samples["bourse_feed_connections"][0][1] >= 0
    assert samples["bourse_feed_slow_consumers_closed"][0][1] >= 0
