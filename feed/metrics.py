"""A feed relay's Prometheus metrics, served as plain HTTP at ``/metrics`` on its
WebSocket port and, when the config gives one, on its own ``metrics_port`` (relays that
share a WebSocket port are told apart there).  Invariant: every value is read from the
live objects at scrape time, so measuring adds nothing to the fan-out path."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from feed.hub import Hub
from feed.markets import MarketData

PATH = "/metrics"


class _Counts(Collector):
    """Counters read from the relay's own integers."""

    def __init__(self, hub: Hub, markets: Mapping[str, MarketData]) -> None:
        self.hub = hub
        self.markets = markets

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "bourse_feed_messages_sent",
            "Messages handed to WebSocket connections (one per connection)",
            value=self.hub.sent,
        )
        yield CounterMetricFamily(
            "bourse_feed_trades_lost",
            "Trades the relay missed beyond what the engines retain",
            value=sum(m.trade_sync.lost for m in self.markets.values()),
        )


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
    hub: Hub,
    markets: Mapping[str, MarketData],
    refused: Mapping[str, int],
    rate: Callable[[], int],
) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_Refusals(refused))
    registry.register(_Counts(hub, markets))
    Gauge(
        "bourse_feed_messages_per_second",
        "Messages handed to connections per second, over the last few seconds",
        registry=registry,
    ).set_function(rate)
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
    stale = Gauge(
        "bourse_feed_market_stale",
        "1 while the market's engine is silent past market_data.stale_after_ms",
        ["market"],
        registry=registry,
    )
    for name, market in markets.items():
        seq.labels(market=name).set_function(_seq_of(market))
        stale.labels(market=name).set_function(_stale_of(market))
    return registry


def _seq_of(market: MarketData) -> Callable[[], float]:
    return lambda: market.seq


def _stale_of(market: MarketData) -> Callable[[], float]:
    return lambda: float(market.stale)


def respond(conn: ServerConnection, request: Request, registry: CollectorRegistry) -> Response:
    """``/metrics`` from ``registry``; 404 for any other path."""
    if urlsplit(request.path).path == PATH:
        return conn.respond(HTTPStatus.OK, render(registry))
    return conn.respond(HTTPStatus.NOT_FOUND, f"not found: metrics are at {PATH}\n")


def render(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()
