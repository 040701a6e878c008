"""The feed's Prometheus metrics, served as plain HTTP at ``/metrics`` on its WebSocket
port.  Invariant: every value is read from the live objects at scrape time, so measuring
adds nothing to the fan-out path."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from feed.hub import Hub
from feed.markets import MarketData

PATH = "/metrics"


class _Refusals(Collector):
    def __init__(self, refused: Mapping[str, int]) -> None:
        self.refused = refused

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "bourse_feed_refused",
            "Connections, messages and auth attempts refused by a limit, by the limit",
            labels=["reason"],
        )
        for reason, count in sorted(self.refused.items()):
            family.add_metric([reason], count)
        yield family


def feed_registry(
    hub: Hub, markets: Mapping[str, MarketData], refused: Mapping[str, int]
) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_Refusals(refused))
    Gauge("bourse_feed_connections", "Open WebSocket connections", registry=registry).set_function(
        lambda: hub.open_sessions
    )
    Gauge(
        "bourse_feed_slow_consumers_closed",
        "Connections closed because their queue was full",
        registry=registry,
    ).set_function(lambda: hub.slow_closed)
    seq = Gauge(
        "bourse_feed_market_seq",
        "Last market sequence number applied",
        ["market"],
        registry=registry,
    )
    for name, market in markets.items():
        seq.labels(market=name).set_function(_seq_of(market))
    return registry


def _seq_of(market: MarketData) -> Callable[[], float]:
    return lambda: market.seq


def render(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()
