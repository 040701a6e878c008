"""``bourse run gateway``: uvicorn (uvloop, httptools) serving the gateway app.

Invariants: listens on the config's gateway address and port with ``gateway.workers``
processes; with more than one, each worker builds the app itself from ``$BOURSE_CONFIG``
(an import-string factory), so no socket or context crosses a fork.  Every connection
is a :class:`~gateway.http_protocol.BoundedHttpProtocol` with the config's limits (an
order entry WebSocket a :class:`~gateway.ws.protocol.BoundedWebSocketProtocol`), and
a worker never holds more connections than its file descriptors allow (the soft limit
is raised to the hard one; ``gateway.max_connections`` is lowered, with a warning, when
even that is short).  Logs stay the process's JSON lines at warning level; there is no
access log.
"""

from __future__ import annotations

import functools
import os

import uvicorn

from bourse.config import Config
from bourse.fdlimit import connections_allowed
from gateway.actors import gateway_security
from gateway.app import CONFIG_ENV, asgi_app
from gateway.http_protocol import BoundedHttpProtocol, ConnectionLimits
from gateway.ws.protocol import BoundedWebSocketProtocol


def serve(config: Config) -> int:
    gateway_security(config)  # a missing or unreadable key stops the start, naming the file
    endpoint = config.gateway
    gateway = config.raw.gateway
    allowed = connections_allowed(gateway.max_connections, "gateway.max_connections")
    limits = ConnectionLimits.of(config, allowed)
    options: dict[str, object] = {
        "host": endpoint.address,
        "port": endpoint.port,
        "loop": "uvloop",
        "http": functools.partial(BoundedHttpProtocol, limits=limits),
        # Order entry over WebSocket; only its path upgrades (gateway/http_protocol.py).
        "ws": functools.partial(
            BoundedWebSocketProtocol, write_timeout_s=gateway.body_timeout_ms / 1000
        ),
        "ws_max_size": gateway.ws_max_message_bytes,
        "ws_per_message_deflate": False,
        "ws_ping_interval": gateway.ws_ping_interval_ms / 1000,
        "ws_ping_timeout": gateway.ws_ping_interval_ms / 1000,
        "lifespan": "on",
        "log_level": "warning",
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,
        "timeout_keep_alive": gateway.keepalive_timeout_ms / 1000,
    }
    workers = gateway.workers
    if workers > 1:
        os.environ[CONFIG_ENV] = str(config.path.resolve())
        uvicorn.run("gateway.app:app_from_env", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    else:
        uvicorn.run(asgi_app(config), **options)  # type: ignore[arg-type]
    return 0
