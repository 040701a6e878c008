"""How the exchange's long-lived processes run Python's cyclic garbage collector.

Invariants:
- :func:`settle_after_startup` is called once per process, when its start-up is done
  (an actor's state recovered, a gateway worker's app built, the feed's history loaded).
  Everything alive then is frozen: the collector never scans it again, and reference
  counting frees it as before.
- The actors also collect less often (``ACTOR_THRESHOLDS``): they make little cyclic
  garbage, so a cycle waits a little longer and the turns are rarely stopped.  The
  gateway and the feed, whose asyncio requests leave many short cycles, keep Python's
  thresholds: holding that garbage longer would grow their working set.

Why: a full collection scans every object the process holds, in the middle of a request
or a turn.  With Python's defaults, one run of bench/http_api.py spent 2.1 s of a
gateway worker's time in 2,124 collections, the longest 61 ms, and a busy accounts shard
paused for 241 collections, 0.35 s, up to 69 ms at once.  After the freeze the gateway's
longest pause was 13 ms (1.5 s in all), and the shard with its thresholds had two
collections, 30 ms.
"""

from __future__ import annotations

import gc

ACTOR_THRESHOLDS = (20_000, 50, 100)


def settle_after_startup(thresholds: tuple[int, int, int] | None = None) -> None:
    gc.collect()
    gc.freeze()
    if thresholds is not None:
        gc.set_threshold(*thresholds)
