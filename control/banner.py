"""Waits until the gateway says every actor answers, then prints where to look.

``announce`` is what ``bourse run --host NAME --announce`` (``make run``) prints once
the exchange is up.  Run on its own (``python -m control.banner``, a line of the
Procfile), it stays alive afterwards, because a process manager such as honcho stops
everything when one process ends.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

from bourse.config import Config, load_config

WAIT_S = 120


def main() -> int:
    announce(load_config(os.environ.get("BOURSE_CONFIG", "configs/local.toml")))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.pause()
    return 0


def announce(config: Config) -> None:
    """Wait (at most ``WAIT_S``) for the gateway's health, then print the URLs."""
    base = f"http://{config.gateway.address}:{config.gateway.port}"
    deadline = time.monotonic() + WAIT_S
    health: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2) as response:
                health = json.load(response)
                break
        except urllib.error.HTTPError as error:
            health = error.read().decode(errors="replace")
        except OSError:
            pass
        time.sleep(0.25)  # polling a server that is starting; nothing to wait on instead
    print(
        "\n  Bourse is up.\n"
        f"  Trading screen:  {base}/\n"
        f"  API docs:        {base}/schema\n"
        f"  WebSocket feed:  ws://{config.feed_ws.address}:{config.feed_ws.port}/ws\n"
        f"  Order entry:     ws://{config.gateway.address}:{config.gateway.port}/api/v1/ws"
        f" ({base}/docs/api)\n"
        f"  Health:          {_summary(health)}\n"
        f"  Admin key:       see configs/local.toml (local use only)\n"
        f"  Status:          bourse --config {config.path} status\n",
        flush=True,
    )


def _summary(health: object) -> str:
    """One line: every actor answers, or which do not."""
    if not isinstance(health, dict):
        return f"the gateway did not answer ({health})"
    down = [
        str(actor.get("market") or actor.get("shard") or actor.get("name", "?"))
        for group in ("engines", "shards")
        for actor in health.get(group, [])
        if isinstance(actor, dict) and not actor.get("up")
    ]
    feed = health.get("feed")
    if isinstance(feed, dict) and not feed.get("up"):
        down.append("feed")
    engines, shards = len(health.get("engines", [])), len(health.get("shards", []))
    if down:
        return f"not answering: {', '.join(down)}"
    return f"all {engines} engines, {shards} accounts shards and the feed answer"


if __name__ == "__main__":
    sys.exit(main())
