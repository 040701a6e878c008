"""How long a group is leaderless when its leader dies: from ``kill -9`` of the leading
process to the standby's successful campaign, through a real etcd.

Each run: a contender process ("a") leads the group, with the standby ("b", in this
process) in its in-sync set; the standby follows the leader key with a leader watch and
campaigns the moment the key goes.  After a random wait of up to one TTL (so that the
kill falls anywhere between two keepalives), "a" is killed with SIGKILL.  Measured:
kill -> the watch sees the key gone (etcd expired the lease) and kill -> the standby
leads.  Then the standby resigns and a new "a" takes the group for the next run.

Settings: ``lease_ttl_ms`` (default 1000), etcd with a 50 ms heartbeat and a 500 ms
election timeout (its shortest lease is then 1 s; harness/etcd.py).  What to expect:
etcd expires a lease between TTL - TTL/3 and TTL after the last keepalive it took, and
checks for expired leases every 500 ms.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
from pathlib import Path

from bench.stats import percentiles
from harness.contender import Contender
from harness.etcd import etcd
from transport.coordinator import Coordinator, LeaderChange

GROUP = "engine-BTC-USDT"
PREFIX = "/bourse/bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--lease-ttl-ms", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("BOURSE_LOG_LEVEL", "WARNING")  # the contenders' logs
    pick = random.Random(args.seed)
    gone_s: list[float] = []
    took_s: list[float] = []
    with tempfile.TemporaryDirectory() as folder, etcd(Path(folder)) as server:
        settings = server.settings(PREFIX, lease_ttl_ms=args.lease_ttl_ms)
        standby = Coordinator(settings)
        vacant = threading.Event()
        vacant_at = [0.0]

        def follow(change: LeaderChange) -> None:
            if change.group == GROUP and change.leader is None:
                vacant_at[0] = time.monotonic()
                vacant.set()

        watch = standby.watch_leaders(follow)
        primary = True
        try:
            for run in range(args.runs):
                leader = Contender(
                    server.endpoint, PREFIX, GROUP, "a", primary=primary, add_to_isr=["b"]
                )
                primary = False
                try:
                    leader.wait_for("won")
                    vacant.clear()
                    time.sleep(pick.uniform(0, args.lease_ttl_ms / 1000))  # where to kill
                    killed_at = time.monotonic()
                    leader.kill()
                    vacant.wait(30)
                    while standby.campaign(GROUP, "b", {}) is None:
                        vacant.wait(0.01)  # etcd is slow to answer: try again at once
                    led_at = time.monotonic()
                finally:
                    leader.stop()
                gone_s.append(vacant_at[0] - killed_at)
                took_s.append(led_at - killed_at)
                print(
                    f"run {run + 1:2d}: key gone after {gone_s[-1] * 1000:6.0f} ms, "
                    f"standby leads after {took_s[-1] * 1000:6.0f} ms"
                )
                standby.resign(GROUP)
        finally:
            watch.close()
            standby.close()
    p50, p90, high = percentiles(took_s, 0.5, 0.9, 1.0)
    low = min(took_s)
    print(
        f"kill -9 -> standby leads, {len(took_s)} runs: min {low * 1000:.0f} ms, "
        f"p50 {p50 * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, max {high * 1000:.0f} ms"
    )
    print(
        json.dumps(
            {
                "bench": "leadership",
                "runs": len(took_s),
                "lease_ttl_ms": args.lease_ttl_ms,
                "takeover_min_ms": round(low * 1000),
                "takeover_p50_ms": round(p50 * 1000),
                "takeover_p90_ms": round(p90 * 1000),
                "takeover_max_ms": round(high * 1000),
                "key_gone_p50_ms": round(percentiles(gone_s, 0.5)[0] * 1000),
            }
        )
    )


if __name__ == "__main__":
    main()
