"""Prometheus metrics of one actor process, served in the text format over HTTP.

Invariants: every process has its own registry; the actor's loop updates counters and
histograms once per turn (never per message), so measuring costs the hot path a few
microseconds a batch; gauges are read from the actor at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
)


class ActorMetrics:
    def __init__(self, actor: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"actor": actor}
        self.messages = Counter(
            "bourse_messages", "Messages the actor handled", ["actor"], registry=self.registry
        ).labels(**labels)
        self.turn_seconds = Histogram(
            "bourse_turn_seconds",
            "Time to apply one batch of messages (journal commit excluded)",
            ["actor"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        self.batch_size = Histogram(
            "bourse_batch_size",
            "Messages per batch",
            ["actor"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        ).labels(**labels)
        self.commit_seconds = Histogram(
            "bourse_journal_commit_seconds",
            "Time to write and fsync one batch to the journal",
            ["actor"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        self._actor = actor

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        Gauge(name, documentation, ["actor"], registry=self.registry).labels(
            actor=self._actor
        ).set_function(read)

    def serve(self, address: str, port: int) -> None:
        start_http_server(port, addr=address, registry=self.registry)
