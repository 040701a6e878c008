"""A client's deadline: the gateway's receipt plus ``recv_window_ms`` (or the request
timeout), carried by the request to the shard and the engine.

Invariants:
- A window is 100 ms up to ``exchange.request_timeout_ms``, which is also the default;
  anything else is 400 ``INVALID_FIELD`` naming ``recv_window_ms``.
- The gateway waits for the answer exactly until the deadline, and the shard and the
  engine refuse the request once it is past (less the clock skew allowed), so after a
  503 or 504 the request is either done or never will be: a query by client order id
  once the deadline has passed gives the final outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from bourse.logs import now_ms
from gateway.context import Gateway
from gateway.errors import invalid

MIN_WINDOW_MS = 100


@dataclass(frozen=True, slots=True)
class Deadline:
    at_ms: int  # on this gateway's clock
    timeout_s: float  # how long the gateway waits for the answer


def deadline_for(gw: Gateway, recv_window_ms: int | None) -> Deadline:
    longest = gw.config.exchange.request_timeout_ms
    window = longest if recv_window_ms is None else recv_window_ms
    if not MIN_WINDOW_MS <= window <= longest:
        raise invalid(
            "recv_window_ms", f"recv_window_ms must be between {MIN_WINDOW_MS} and {longest}"
        )
    return Deadline(now_ms() + window, window / 1000)
