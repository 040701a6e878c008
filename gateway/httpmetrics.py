"""Request metrics for ``/metrics``: count, latency and server errors per route.

Invariants:
- One series per (method, route template, status), so the number of series is bounded by
  the routes, never by the paths clients send (``/api/v1/orders/{order_id}``, not ids).
- Each worker counts its own requests (Prometheus adds the workers up when it scrapes
  them); a series' children are bound once and cached, so recording a request is a few
  dictionary lookups and the metric's own lock.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

APP_NAME = "gateway"
_LABELS = ("method", "path", "status_code", "app_name")

_REQUESTS = Counter("bourse_gateway_requests", "HTTP requests answered", _LABELS)
_ERRORS = Counter("bourse_gateway_requests_error", "HTTP requests answered with a 5xx", _LABELS)
_DURATION = Histogram(
    "bourse_gateway_request_duration_seconds",
    "Time from the request's arrival at the app to its answer",
    _LABELS,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

_Series = tuple[Counter, Histogram, Counter | None]
_series: dict[tuple[str, str, int], _Series] = {}


def record(method: str, path: str, status: int, seconds: float) -> None:
    key = (method, path, status)
    series = _series.get(key)
    if series is None:
        values = (method, path, str(status), APP_NAME)
        errors = _ERRORS.labels(*values) if status >= 500 else None
        series = (_REQUESTS.labels(*values), _DURATION.labels(*values), errors)
        _series[key] = series
    requests, duration, errors = series
    requests.inc()
    duration.observe(seconds)
    if errors is not None:
        errors.inc()


_REFUSED = Counter(
    "bourse_gateway_refused",
    "Connections and requests refused by a limit, by the limit",
    ("reason",),
)


def refused(reason: str) -> None:
    """Count a refusal: a connection or request that broke ``reason``'s limit."""
    _REFUSED.labels(reason).inc()
