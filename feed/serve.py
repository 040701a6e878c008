"""``bourse run feed [--relay N]``: run a feed relay until SIGTERM or SIGINT.

Invariants: uvloop drives the loop when it is installed; a signal stops the feed
cleanly (connections closed with 1001, store committed) and the exit code is 0; a
failure inside the feed is logged and the exit code is 1.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from bourse.config import Config, FeedRelay
from feed.server import FeedServer

log = logging.getLogger("feed")


def serve(config: Config, relay: FeedRelay) -> int:
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    # One line per connection opened or closed drowns the feed's own log at fan-out scale.
    logging.getLogger("websockets.server").setLevel(logging.WARNING)
    try:
        runner(_main(config, relay))
    except Exception:
        log.exception("feed failed")
        return 1
    return 0


async def _main(config: Config, relay: FeedRelay) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await FeedServer(config, relay).run(stop)
    log.info("feed stopped")
